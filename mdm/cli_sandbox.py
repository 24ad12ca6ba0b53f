"""The sandbox commands: ``synchub sandbox up``, ``seed``, ``dump`` and ``faults``.

Registered on the main app at the end of ``mdm/cli.py``. ``up`` runs both sandboxes in the foreground
until Ctrl-C and writes the env file of their Airflow connections; ``seed`` writes seed data and its
truth without starting anything; ``dump`` writes a running sandbox's state to a data folder; ``faults``
shows or changes a running sandbox's fault injection.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    pass

console = Console()
err = Console(stderr=True, soft_wrap=True)

sandbox_app = typer.Typer(
    help="Salesforce and SAP S/4HANA sandboxes that speak the real protocols.", no_args_is_help=True
)


SeedOpt = Annotated[int | None, typer.Option("--seed", help="Generate seed data with this random seed.")]
CustomersOpt = Annotated[int, typer.Option(help="Seeded CRM accounts, and as many SAP business partners.")]
ProductsOpt = Annotated[int, typer.Option(help="Seeded SAP products (some copied to the CRM).")]
OrdersOpt = Annotated[int, typer.Option(help="Seeded orders.")]
HardCasesOpt = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=0.9,
        help="Share of companies in groups of look-alikes that are different companies (sister companies "
        "at one address, branches, one family's firms, franchises), with checksum-valid tax ids and "
        "crowded postal codes. 0: the classic seed.",
    ),
]


SANDBOX_MODULES = ("faker", "lark")  # what the sandboxes need beyond SyncHub's runtime


def require_sandbox_extra() -> None:
    """Exit 2 with the install command when SyncHub was installed without its ``sandbox`` extra."""
    import importlib.util

    missing = [name for name in SANDBOX_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        err.print(
            "[red]error:[/] the sandboxes need SyncHub's sandbox extra (missing: "
            f"{', '.join(missing)}): pip install 'synchub\\[sandbox]'"
        )
        raise typer.Exit(2)


def _fault_config(
    rate_429: float, rate_503: float, rate_timeout: float, rate_expired: float, latency_ms: int
):
    from sandbox.faults import FaultConfig

    config = FaultConfig(
        rate_429=rate_429,
        rate_503=rate_503,
        rate_timeout=rate_timeout,
        rate_expired_session=rate_expired,
        latency_ms=latency_ms,
    )
    try:
        config.validate()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return config


@sandbox_app.command("up")
def sandbox_up(
    seed: SeedOpt = None,
    customers: CustomersOpt = 200,
    products: ProductsOpt = 50,
    orders: OrdersOpt = 100,
    hard_cases: HardCasesOpt = 0.0,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Start from a folder of JSON-lines files "
            "(salesforce/<Object>.jsonl, sap/<SERVICE>/<Set>.jsonl)."
        ),
    ] = None,
    crm_port: Annotated[int, typer.Option(help="Port of the Salesforce sandbox (HTTPS).")] = 8443,
    erp_port: Annotated[int, typer.Option(help="Port of the SAP sandbox.")] = 44300,
    erp_http: Annotated[
        bool, typer.Option("--erp-http", help="Serve the SAP sandbox over plain HTTP.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    without_synchub_fields: Annotated[
        bool,
        typer.Option(
            "--without-synchub-fields",
            help="Start the Salesforce sandbox as an org without SyncHub's custom fields (setup/salesforce).",
        ),
    ] = False,
    page_size: Annotated[
        int, typer.Option(help="SAP server-driven page size (__next); 0: no server paging, as many gateways.")
    ] = 0,
    batch_continues: Annotated[
        bool,
        typer.Option(
            "--batch-continues-on-error",
            help="SAP $batch answers every changeset (default: it stops at the first failed one).",
        ),
    ] = False,
    same_customer_numbers: Annotated[
        bool,
        typer.Option(
            "--same-customer-numbers",
            help="SAP customers take their business partner's number (CVI 'same numbers'); "
            "default: their own number range, as on many migrated systems.",
        ),
    ] = False,
    standard_grouping: Annotated[
        str | None,
        typer.Option(
            help="SAP's standard business-partner grouping, for creates that name none "
            "(default: none, so such creates are refused)."
        ),
    ] = None,
    sap_metadata: Annotated[
        Path | None,
        typer.Option(
            help="Folder of OData V2 $metadata files, <SERVICE>.edmx (e.g. SAP's published models from the "
            "SAP Business Accelerator Hub): the SAP sandbox answers $metadata with them.",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    api_limit: Annotated[int, typer.Option(help="Salesforce daily API request budget.")] = 1_000_000,
    fault_429: Annotated[float, typer.Option(help="Share of requests answered 429.")] = 0.0,
    fault_503: Annotated[float, typer.Option(help="Share of requests answered 503.")] = 0.0,
    fault_timeout: Annotated[float, typer.Option(help="Share of requests held, then answered 504.")] = 0.0,
    fault_expired_session: Annotated[
        float,
        typer.Option(
            help="Share of requests answered as with an expired session (Salesforce) or CSRF token (SAP)."
        ),
    ] = 0.0,
    latency_ms: Annotated[int, typer.Option(help="Latency added to every request.")] = 0,
    env_file: Annotated[Path, typer.Option(help="Where to write the export lines.")] = Path(
        "var/sandbox.env"
    ),
    dump_on_exit: Annotated[Path | None, typer.Option(help="Dump the state to this folder on exit.")] = None,
) -> None:
    """Run both sandboxes in the foreground until Ctrl-C.

    Prints their URLs, the CA bundle and the Airflow connections as `export` lines, and writes
    those lines to var/sandbox.env, so `source var/sandbox.env` is all another shell needs.
    Fault rates apply to both sandboxes; change them at run time with `synchub sandbox faults`.
    """
    require_sandbox_extra()
    from sandbox.runner import SandboxConfig, load_sap_metadata, start_sandboxes
    from sandbox.seed import SeedOptions

    if data is not None and seed is not None:
        raise typer.BadParameter("give either --data or --seed, not both")
    faults = _fault_config(fault_429, fault_503, fault_timeout, fault_expired_session, latency_ms)
    config = SandboxConfig(
        data_dir=data,
        seed=SeedOptions(
            seed=seed, customers=customers, products=products, orders=orders, hard_cases=hard_cases
        )
        if seed is not None
        else None,
        host=host,
        crm_port=crm_port,
        erp_port=erp_port,
        erp_https=not erp_http,
        page_size=page_size,
        batch_stops_at_failure=not batch_continues,
        crm_synchub_fields=not without_synchub_fields,
        same_customer_numbers=same_customer_numbers,
        standard_grouping=standard_grouping,
        sap_metadata_dir=sap_metadata,
        daily_api_limit=api_limit,
        crm_faults=faults,
        erp_faults=faults,
    )
    if sap_metadata is not None:
        try:
            load_sap_metadata(sap_metadata)  # fail before anything starts
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--sap-metadata") from None
    with console.status("loading data and starting the sandboxes ..."):
        running = start_sandboxes(config)
    env_path = running.write_env(env_file)
    console.print(f"[bold]Salesforce sandbox[/] {running.crm_url}  (API v62.0)")
    console.print(f"[bold]SAP sandbox[/]        {running.erp_url}/sap/opu/odata/sap/")
    console.print(f"[bold]CA certificate[/]     {running.tls.ca_cert}")
    console.print(f"[bold]CA bundle[/]          {running.ca_bundle}  (public CAs + sandbox CA)")
    console.print(f"\n# Connections (also in {env_path}; `source {env_path}`):")
    for line in running.env_lines():
        print(line)
    console.print("\nPress Ctrl-C to stop.")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if dump_on_exit is not None:
            running.dump(dump_on_exit)
            console.print(f"state dumped to {dump_on_exit}")
        running.stop()


@sandbox_app.command("seed")
def sandbox_seed(
    out: Annotated[Path, typer.Option(help="Folder to write (data-folder layout plus truth.json).")],
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    customers: CustomersOpt = 200,
    products: ProductsOpt = 50,
    orders: OrdersOpt = 100,
    hard_cases: HardCasesOpt = 0.0,
) -> None:
    """Write deterministic seed data and its ground truth, without starting anything."""
    require_sandbox_extra()
    from sandbox.seed import SeedOptions, write_seed

    options = SeedOptions(
        seed=seed, customers=customers, products=products, orders=orders, hard_cases=hard_cases
    )
    path = write_seed(out, options)
    console.print(f"seed data written to {path}")


@sandbox_app.command("dump")
def sandbox_dump(
    out: Annotated[Path, typer.Option(help="Folder to write, in the layout `sandbox up --data` reads.")],
    crm_url: Annotated[str, typer.Option(help="Salesforce sandbox URL.")] = "https://127.0.0.1:8443",
    erp_url: Annotated[str, typer.Option(help="SAP sandbox URL.")] = "https://127.0.0.1:44300",
    ca: Annotated[Path, typer.Option(help="Sandbox CA certificate.")] = Path("var/sandbox/tls/ca.pem"),
) -> None:
    """Dump the current state of running sandboxes to a data folder."""
    import requests

    from sandbox.datadir import SandboxData, write_data_dir

    salesforce = requests.get(f"{crm_url}/__sandbox/dump", verify=str(ca), timeout=300)
    sap = requests.get(f"{erp_url}/__sandbox/dump", verify=str(ca), timeout=300)
    for response in (salesforce, sap):
        if response.status_code != 200:
            err.print(f"[red]error:[/] {response.url} answered {response.status_code}")
            raise typer.Exit(1)
    write_data_dir(out, SandboxData(salesforce=salesforce.json(), sap=sap.json()))
    console.print(f"state written to {out}")


@sandbox_app.command("faults")
def sandbox_faults(
    target: Annotated[str, typer.Argument(help="Sandbox URL, e.g. https://127.0.0.1:8443.")],
    rate_429: Annotated[float | None, typer.Option(help="Share of requests answered 429.")] = None,
    rate_503: Annotated[float | None, typer.Option(help="Share of requests answered 503.")] = None,
    rate_timeout: Annotated[float | None, typer.Option(help="Share of requests held, then 504.")] = None,
    rate_expired_session: Annotated[float | None, typer.Option(help="Share answered as expired.")] = None,
    latency_ms: Annotated[int | None, typer.Option(help="Latency added to every request.")] = None,
    reset: Annotated[bool, typer.Option(help="Switch every fault off.")] = False,
    ca: Annotated[Path, typer.Option(help="Sandbox CA certificate.")] = Path("var/sandbox/tls/ca.pem"),
) -> None:
    """Show or change the fault injection of a running sandbox."""
    import requests

    url = f"{target.rstrip('/')}/__sandbox/faults"
    verify: str | bool = str(ca) if url.startswith("https") else True
    changes = {
        k: v
        for k, v in {
            "rate_429": rate_429,
            "rate_503": rate_503,
            "rate_timeout": rate_timeout,
            "rate_expired_session": rate_expired_session,
            "latency_ms": latency_ms,
        }.items()
        if v is not None
    }
    if reset:
        response = requests.delete(url, verify=verify, timeout=30)
    elif changes:
        response = requests.put(url, json=changes, verify=verify, timeout=30)
    else:
        response = requests.get(url, verify=verify, timeout=30)
    if response.status_code != 200:
        err.print(f"[red]error:[/] {response.status_code} {response.text}")
        raise typer.Exit(1)
    console.print_json(json.dumps(response.json()))
