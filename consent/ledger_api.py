"""The consent ledger as a verifiable log, for auditors (API.md; scope `ledger`): the signed
checkpoint, an event's inclusion proof, and the consistency proof between two tree sizes."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.log import NotInCheckpoint, b64, consistency_proof, inclusion_proof, ledger_checkpoint, proof_document
from consent.models import ConsentEvent, LedgerCheckpoint
from pandorakart_wa.core.api.errors import CodedError, invalid
from pandorakart_wa.core.api.fields import UtcDateTimeField
from pandorakart_wa.core.models import ApiScope

EVENT_ID = re.compile(r"^ev_([0-9a-f]{32})$")

_ERRORS = {
    401: OpenApiResponse(description="not_authenticated"),
    403: OpenApiResponse(description="permission_denied: the key lacks the `ledger` scope"),
}


class CheckpointSerializer(serializers.Serializer[Any]):
    origin = serializers.CharField(help_text="The log's name: the checkpoint's first line and the key's name.")
    tree_size = serializers.IntegerField(help_text="Events in the tree.")
    root_hash = serializers.CharField(help_text="Base64 RFC 6962 root hash of the tree of tree_size events.")
    timestamp = UtcDateTimeField(help_text="When it was signed (not part of the signed text).")
    note = serializers.CharField(
        help_text="The C2SP signed note: the tlog-checkpoint body, a blank line, '— <name> <base64(key id || signature)>'."
    )


class InclusionProofSerializer(serializers.Serializer[Any]):
    event = serializers.CharField(help_text="ev_…, as in a receipt or history[].event.")
    leaf_index = serializers.IntegerField(help_text="Position of the event's leaf (0-based; the event is #leaf_index+1).")
    tree_size = serializers.IntegerField(help_text="Size of the checkpoint the proof is against.")
    leaf_hash = serializers.CharField(help_text="Base64 SHA-256(0x00 || leaf_data).")
    inclusion_path = serializers.ListField(child=serializers.CharField(), help_text="RFC 9162 audit path, base64, leaf upwards.")
    leaf_data = serializers.CharField(help_text="The canonical JSON the leaf commits to (no personal data: evidence by digest).")
    root_hash = serializers.CharField(help_text="Base64 root hash of that checkpoint.")
    checkpoint = serializers.CharField(help_text="That checkpoint's signed note.")


class ConsistencyProofSerializer(serializers.Serializer[Any]):
    first = serializers.IntegerField()
    second = serializers.IntegerField()
    consistency_path = serializers.ListField(child=serializers.CharField(), help_text="RFC 9162 consistency proof, base64.")
    second_root_hash = serializers.CharField()
    checkpoint = serializers.CharField(help_text="The signed checkpoint of `second` events.")


def checkpoint_document(checkpoint: LedgerCheckpoint) -> dict[str, Any]:
    return {
        "origin": checkpoint.origin,
        "tree_size": checkpoint.tree_size,
        "root_hash": b64(bytes(checkpoint.root_hash)),
        "timestamp": checkpoint.signed_at,
        "note": checkpoint.note,
    }


def _size_param(request: Request, name: str, *, required: bool = False) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if required:
            raise invalid({name: "This parameter is required."})
        return None
    if not raw.isdigit():
        raise invalid({name: "A tree size: a whole number of events."})
    return int(raw)


def _checkpoint_or_404(tree_size: int | None) -> LedgerCheckpoint:
    checkpoint = ledger_checkpoint(tree_size)
    if checkpoint is None:
        raise exceptions.NotFound(
            f"No checkpoint has tree size {tree_size}." if tree_size is not None else "No checkpoint has been signed yet."
        )
    return checkpoint


_TREE_SIZE = OpenApiParameter("tree_size", OpenApiTypes.INT, description="A checkpoint's tree size (default: the latest).")


class LedgerCheckpointApi(APIView):
    required_scope = ApiScope.LEDGER

    @extend_schema(
        operation_id="ledger_checkpoint",
        parameters=[_TREE_SIZE],
        responses={200: CheckpointSerializer, 404: OpenApiResponse(description="not_found: no such checkpoint (yet)"),
                   **_ERRORS},
        summary="The latest signed checkpoint of the consent ledger (or the one of tree_size)",
    )
    def get(self, request: Request) -> Response:
        return Response(checkpoint_document(_checkpoint_or_404(_size_param(request, "tree_size"))))


class LedgerProofApi(APIView):
    required_scope = ApiScope.LEDGER

    @extend_schema(
        operation_id="ledger_inclusion_proof",
        parameters=[
            _TREE_SIZE,
            OpenApiParameter("Retry-After", OpenApiTypes.INT, location=OpenApiParameter.HEADER, response=[404],
                             description="With not_yet_sequenced: seconds until the next checkpoint is due."),
        ],
        responses={
            200: InclusionProofSerializer,
            404: OpenApiResponse(
                description="not_found: unknown event or tree size; not_yet_sequenced: the event is not in a signed "
                "checkpoint yet (Retry-After, in seconds)"
            ),
            **_ERRORS,
        },
        summary="An event's RFC 9162 inclusion proof against a signed checkpoint",
    )
    def get(self, request: Request, event: str) -> Response:
        tree_size = _size_param(request, "tree_size")
        match = EVENT_ID.match(event)
        found = ConsentEvent.objects.select_related("contact").filter(uid=match.group(1)).first() if match else None
        if found is None:
            raise exceptions.NotFound(f"No ledger event {event}.")
        try:
            proof = inclusion_proof(found, tree_size=tree_size)
        except NotInCheckpoint as exc:
            raise CodedError(404, "not_yet_sequenced", str(exc), retry_after=exc.retry_after) from exc
        except LookupError as exc:
            raise exceptions.NotFound(str(exc)) from exc
        return Response(proof_document(found, proof))


class LedgerConsistencyApi(APIView):
    required_scope = ApiScope.LEDGER

    @extend_schema(
        operation_id="ledger_consistency_proof",
        parameters=[
            OpenApiParameter("first", OpenApiTypes.INT, required=True, description="The tree size an auditor holds."),
            OpenApiParameter("second", OpenApiTypes.INT, description="A checkpoint's tree size (default: the latest)."),
        ],
        responses={200: ConsistencyProofSerializer, 404: OpenApiResponse(description="not_found: no such checkpoint"),
                   400: OpenApiResponse(description="invalid: first is not a size at most second"), **_ERRORS},
        summary="The RFC 9162 proof that the tree of `first` events is a prefix of a signed checkpoint's",
    )
    def get(self, request: Request) -> Response:
        first = _size_param(request, "first", required=True)
        checkpoint = _checkpoint_or_404(_size_param(request, "second"))
        assert first is not None
        if first > checkpoint.tree_size:
            raise invalid({"first": f"At most the second tree size ({checkpoint.tree_size})."})
        proof = consistency_proof(first, checkpoint.tree_size)
        return Response(
            {
                "first": first,
                "second": checkpoint.tree_size,
                "consistency_path": [b64(h) for h in proof],
                "second_root_hash": b64(bytes(checkpoint.root_hash)),
                "checkpoint": checkpoint.note,
            }
        )
