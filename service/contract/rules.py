"""A Spot's rules, as configured: group sync, custom properties, domains, access.

Settings models only (``service.contract.membership`` applies them). Each is checked at start-up:
group IDs and keys are plain text, domain URLs are absolute http(s) URLs, and every key
a ``by_group`` entry names exists in ``urls``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from service.contract.claims import Key as ClaimKey
from service.contract.claims import PropertyValue, http_url

Path = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[\w-]+(\.[\w-]+)*$")]
Url = Annotated[str, AfterValidator(http_url)]


class RuleTable(BaseModel):
    """A table of rules in the configuration: an unknown key (a typo) is refused."""

    model_config = ConfigDict(extra="forbid")


class PropertyConstant(RuleTable):
    """A custom property with the same value for every member: ``{ value = "gold" }``."""

    value: PropertyValue


class DomainRules(RuleTable):
    """``domains:set`` from ``urls``; with ``by_group``, some keys only for some groups."""

    urls: dict[ClaimKey, Url] = Field(default_factory=dict)
    by_group: dict[str, list[ClaimKey]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_keys(self) -> DomainRules:
        _refuse(
            "by_group names domain keys missing from urls",
            sorted(self.group_bound - set(self.urls)),
        )
        return self

    @property
    def group_bound(self) -> frozenset[str]:
        """Keys that some group grants: the others are set for everyone."""
        return _all_values(self.by_group)


class SpotRules(RuleTable):
    """How the host platform's users become members of this Spot."""

    groups: dict[str, list[ClaimKey]] = Field(
        default_factory=dict,
        description="Host group -> MeltingSpot group IDs, joined while the user has it, "
        "left when they lose it.",
    )
    properties: dict[ClaimKey, Path | PropertyConstant] = Field(
        default_factory=dict,
        description="Custom property key -> dotted path in the profile, or { value = ... }.",
    )
    domains: DomainRules = Field(default_factory=DomainRules)
    require_groups: list[str] = Field(
        default_factory=list, description="Host groups, any of which lets a user in."
    )

    @field_validator("groups")
    @classmethod
    def _no_empty_lists(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        _refuse(
            "host groups mapped to no Spot group",
            [group for group, ids in value.items() if not ids],
        )
        return value

    @property
    def mapped_groups(self) -> frozenset[str]:
        """Every Spot group these rules manage; other Spot groups are never touched."""
        return _all_values(self.groups)


def _all_values(lists: dict[str, list[str]]) -> frozenset[str]:
    return frozenset(value for values in lists.values() for value in values)


def _refuse(problem: str, names: list[str]) -> None:
    if names:
        raise ValueError(f"{problem}: {', '.join(names)}")
