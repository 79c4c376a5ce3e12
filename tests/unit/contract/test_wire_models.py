"""The client library's copy of the wire models equals the service's (clients never import app).

Every field the client declares must exist in the service's documented
response model: a renamed or dropped field on either side fails here rather
than in a user's script.
"""

from __future__ import annotations

from typing import get_type_hints

import pytest
from pydantic import BaseModel

from app.api import schemas
from clients import models

PAIRS = [
    (models.MemoryNotifyArg, schemas.MemoryNotifyArg),
    (models.Block, schemas.BlockPublic),
    (models.NodeInfo, schemas.NodePublic),
    (models.MemoryInfo, schemas.MemoryPublic),
    (models.VetoedBy, schemas.VetoedBy),
    (models.Call, schemas.CallRecord),
    (models.Walk, schemas.WalkRecord),
    (models.Transition, schemas.TransitionRecord),
    (models.SubscriberInfo, schemas.SubscriberPublic),
    (models.Registration, schemas.SubscriberCreated),
    (models.ChainEntry, schemas.ChainEntry),
    (models.ChmemBlockResult, schemas.ChmemBlockResult),
    (models.ChmemResult, schemas.ChmemResult),
    (models.ProbeResult, schemas.ProbeResult),
    (models.ErrorInjection, schemas.ErrorInjectionPublic),
]


@pytest.mark.parametrize(("client_model", "service_model"), PAIRS, ids=lambda m: m.__name__)
def test_client_fields_exist_in_the_service_model(
    client_model: type, service_model: type[BaseModel]
) -> None:
    """Each field of the client's TypedDict is a field of the service's response model."""
    client_fields = set(get_type_hints(client_model))
    service_fields = set(service_model.model_fields)
    assert client_fields <= service_fields, sorted(client_fields - service_fields)


def test_the_fields_a_script_relies_on_are_on_both_sides() -> None:
    """The core fields of SPEC §1 and §5 are declared by client and service alike."""
    for client_model, service_model, required in [
        (models.Block, schemas.BlockPublic, {"id", "state", "zone", "node", "valid_zones"}),
        (models.Transition, schemas.TransitionRecord, {"id", "outcome", "errno", "walks"}),
        (models.Call, schemas.CallRecord, {"subscriber", "delivery", "result", "value"}),
    ]:
        assert required <= set(get_type_hints(client_model))
        assert required <= set(service_model.model_fields)
