"""Hard cases: companies that look alike but are different (sister companies, branches, family firms,
franchises), each its own truth entry."""

from __future__ import annotations

import random

from sandbox.seed.common import Rng
from sandbox.seed.tables import PREFIXES, SECTORS, Country
from sandbox.seed.world import (
    FRANCHISE_WORDS,
    GROUP_WORDS,
    REGION_WORDS,
    Company,
    WorldBase,
    ascii_slug,
    similar_name,
)


class HardCases(WorldBase):
    """Groups of look-alike companies that are different companies."""

    # ---- hard cases: different companies that look alike
    def hard_cases(self, companies: list[Company], rng: random.Random) -> dict[str, int]:
        """Turn a share of the companies into groups of look-alikes, each still its own company (its own
        truth entry): sister companies at one address with other legal forms and their own tax ids, often
        one switchboard and domain; branches and subsidiaries with an extra word; firms of one family, or
        of two families whose names share the rest ('Hartmann Crystal Robotics', 'Hofmann
        CrystalRobotics'); franchises of one brand in many cities. Returns the number of groups per kind."""
        kinds = (("sisters", 30), ("branches", 25), ("family", 30), ("franchise", 15))
        target = round(len(companies) * self.o.hard_cases)
        order = list(range(len(companies)))
        rng.shuffle(order)
        counts = {kind: 0 for kind, _ in kinds}
        used = 0
        position = 0
        while used < target and position < len(order) - 1:
            kind = self._weighted(rng, kinds)
            head = companies[order[position]]
            size = {
                "sisters": rng.choice((2, 2, 2, 3)),
                "branches": rng.choice((2, 2, 3, 4)),
                "family": rng.choice((2, 2, 3, 3, 4)),
                "franchise": rng.choice((3, 4, 5, 6, 8)),
            }[kind]
            if kind == "sisters":
                size = min(size, len(head.country.legal_forms))
            members = [companies[i] for i in order[position + 1 : position + size]]
            position += size
            if not members:
                break
            getattr(self, f"_{kind}")(rng, head, members)
            for c in (head, *members):
                c.group = f"{kind}-{counts[kind] + 1}"
            counts[kind] += 1
            used += 1 + len(members)
        return counts

    def _sibling(self, head: Company, c: Company) -> None:
        """Move ``c`` into ``head``'s country: its own legal form, tax id, phone and place there."""
        if c.country.iso == head.country.iso:
            return
        rng = Rng(f"{self.o.seed}-move-{c.entity_id}")
        moved = self._company(rng, c.entity_id, head.country, "both", set())
        for name in (
            "country",
            "legal",
            "street",
            "house",
            "postal",
            "city",
            "region",
            "vat",
            "phone_area",
            "phone_sub",
            "slug",
            "domain",
        ):
            setattr(c, name, getattr(moved, name))

    def _other_legal(self, rng: random.Random, country: Country, taken: set[str]) -> tuple:
        free = [lf for lf in country.legal_forms if lf[0] not in taken]
        return rng.choice(free) if free else rng.choice(country.legal_forms)

    def _sisters(self, rng: random.Random, head: Company, members: list[Company]) -> None:
        taken = {head.legal[0]}
        words = GROUP_WORDS[head.country.language]
        for c in members:
            self._sibling(head, c)
            c.core = head.core if rng.random() < 0.7 else f"{head.core} {rng.choice(words)}"
            c.legal = self._other_legal(rng, head.country, taken)
            taken.add(c.legal[0])
            c.street, c.house, c.postal, c.city, c.region = (
                head.street,
                head.house,
                head.postal,
                head.city,
                head.region,
            )
            if rng.random() < 0.7:  # the group's switchboard
                c.phone_area, c.phone_sub = head.phone_area, head.phone_sub
            if rng.random() < 0.7:
                c.domain = head.domain
            c.slug = ascii_slug(c.core)

    def _branches(self, rng: random.Random, head: Company, members: list[Company]) -> None:
        words = [*REGION_WORDS[head.country.language], *GROUP_WORDS[head.country.language]]
        rng.shuffle(words)
        for c, word in zip(members, words, strict=False):
            self._sibling(head, c)
            c.core = f"{head.core} {word}"
            if rng.random() < 0.5:
                c.legal = head.legal
            if rng.random() < 0.5:  # same city, another street
                c.city, c.region = head.city, head.region
                c.postal = head.postal if rng.random() < 0.6 else c.postal
            if rng.random() < 0.6:
                c.domain = head.domain
            c.slug = ascii_slug(c.core)

    def _family(self, rng: random.Random, head: Company, members: list[Company]) -> None:
        pools = self.pools[head.country.iso]
        family = rng.choice(pools.last_names)
        rest = f"{rng.choice(PREFIXES)} {rng.choice(SECTORS[head.country.language])}"
        head.core = f"{family} {rest}"
        head.slug = ascii_slug(head.core)
        head.domain = f"{head.slug}.{head.domain.rsplit('.', 1)[-1]}"
        for c in members:
            self._sibling(head, c)
            p = rng.random()
            if p < 0.4:  # a similar family name, the same rest
                other = similar_name(rng, family)
                c.core = f"{other} {rest.replace(' ', '') if rng.random() < 0.3 else rest}"
            elif p < 0.75:  # another family, the same rest
                c.core = (
                    f"{rng.choice(pools.last_names)} {rest.replace(' ', '') if rng.random() < 0.3 else rest}"
                )
            else:  # the same family, another trade
                c.core = f"{family} {rng.choice(SECTORS[head.country.language])}"
            if c.core == head.core:
                c.core = f"{family} {rest} {rng.choice(GROUP_WORDS[head.country.language])}"
            if rng.random() < 0.6:
                c.city, c.region = head.city, head.region
                c.postal = head.postal if rng.random() < 0.5 else c.postal
            c.slug = ascii_slug(c.core)
            c.domain = f"{c.slug}.{c.domain.rsplit('.', 1)[-1]}"

    def _franchise(self, rng: random.Random, head: Company, members: list[Company]) -> None:
        pools = self.pools[head.country.iso]
        brand = f"{rng.choice(FRANCHISE_WORDS[head.country.language])} {rng.choice(pools.last_names)}"
        hotline = (head.phone_area, head.phone_sub) if rng.random() < 0.3 else None
        brand_domain = f"{ascii_slug(brand)}.{head.domain.rsplit('.', 1)[-1]}"
        for c in [head, *members]:
            self._sibling(head, c)
            c.core = f"{brand} {c.city}"
            c.slug = ascii_slug(c.core)
            c.domain = brand_domain if rng.random() < 0.5 else f"{c.slug}.{c.domain.rsplit('.', 1)[-1]}"
            if hotline:
                c.phone_area, c.phone_sub = hotline
