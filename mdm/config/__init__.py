"""SyncHub's configuration: ``mappings/<entity>.yaml`` and its sections, each parsed and checked here.

``mapping``: the file, its schema (``mappings/schema.json``) and the systems' sources; ``match``,
``survivorship``, ``pricing``: the sections of the same names, with their schema files next to
``schema.json`` where they have one. Errors name the file, the line and the field. Nothing outside this
package reads a mapping's raw YAML; the domain modules (match, merge, prices, orders, quality) import
their settings from here, never the reverse.
"""

from mdm.config.errors import MappingError, dotted_path, line_of
from mdm.config.mapping import (
    DEFAULT_DIR,
    MAPPINGS_ENV,
    Mapping,
    entity_match_config,
    entity_source,
    load_entity_mapping,
    load_mapping,
    load_mappings,
    load_match_config,
    mapping_with,
    mappings_dir,
)

__all__ = [
    "DEFAULT_DIR",
    "MAPPINGS_ENV",
    "Mapping",
    "MappingError",
    "dotted_path",
    "entity_match_config",
    "entity_source",
    "load_entity_mapping",
    "line_of",
    "load_mapping",
    "load_mappings",
    "load_match_config",
    "mappings_dir",
    "mapping_with",
]
