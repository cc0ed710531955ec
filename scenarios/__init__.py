"""Named, versioned experiment definitions: scenario files (scenarios/library/*.toml) and their typed loader."""

from scenarios.loader import check_buildable, library_names, list_scenarios, load_scenario
from scenarios.schema import Scenario, ScenarioError

__all__ = ["Scenario", "ScenarioError", "check_buildable", "library_names", "list_scenarios", "load_scenario"]
