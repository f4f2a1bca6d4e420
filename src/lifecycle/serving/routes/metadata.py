"""``GET /metadata``: the served model (version, data version, task, classes, threshold), its shadow, the
request limits, the out-of-domain rules, the feature schema and the prediction log's counters."""

from __future__ import annotations

from fastapi import APIRouter, Request

from lifecycle.serving.service import plain

UNPUBLISHED = ("kind", "nullable", "out_of_domain")  # what /metadata shows of an input when the domain is not published

router = APIRouter()


@router.get("/metadata", summary="the served model: version, data version, task, classes, threshold, inputs")
async def metadata(request: Request) -> dict:
    service = request.app.state.service
    scorer, shadow, contract = service.scorer, service.shadow, service.contract
    return {
        "model": scorer.name,
        "version": scorer.version,
        "data_version": scorer.metadata.get("data_version"),
        "task": scorer.task,
        "target": scorer.metadata.get("target"),
        "classes": [plain(c) for c in scorer.classes],
        "positive_class": plain(scorer.positive_class),
        "threshold": scorer.threshold,
        "shadow": {"model": shadow.name, "version": shadow.version} if shadow else None,
        "limits": {"max_records": contract.max_records, "max_body_bytes": service.max_body_bytes, **service.batching},
        "domain": contract.domain.model_dump(),
        "feature_schema": {
            column: {k: plain(v) for k, v in spec.items() if contract.publish_domain or k in UNPUBLISHED}
            for column, spec in contract.inputs.items()
        },
        **service.store.stats(),
    }
