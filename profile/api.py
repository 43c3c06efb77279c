"""GET /api/v1/profile: the storefront shows exactly the contact details WhatsApp shows."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pandorakart_wa.core.models import ApiScope
from profile.selectors import profile_get
from profile.serializers import ProfileSerializer


class ProfileApi(APIView):
    required_scope = ApiScope.PROFILE

    @extend_schema(
        operation_id="profile_retrieve",
        summary="The business profile and support channels",
        description="The same values the sync pushes to the WhatsApp business profile, plus the "
        "support channels published in the policy.",
        responses={200: ProfileSerializer, 404: OpenApiResponse(description="No profile configured yet.")},
        tags=["profile"],
    )
    def get(self, request: Request) -> Response:
        profile = profile_get()
        if profile is None:
            raise NotFound("The business profile has not been configured yet.")
        return Response(ProfileSerializer(profile).data)
