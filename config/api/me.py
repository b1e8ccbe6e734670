"""Project-level REST endpoints: who the caller is."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.schema import error_responses
from config.auth.cognito import CognitoUser
from config.auth.identity import owner_id


class MeApi(APIView):
    class OutputSerializer(serializers.Serializer):
        userId = serializers.CharField(help_text="The owner id of your data (Cognito sub, or local:<pk>).")
        username = serializers.CharField()
        email = serializers.CharField(allow_blank=True)
        isStaff = serializers.BooleanField()
        authMethod = serializers.ChoiceField(choices=["cognito", "session"])
        groups = serializers.ListField(child=serializers.CharField(), help_text="Cognito groups (empty for sessions).")

    @extend_schema(operation_id="me", summary="Who am I", responses={200: OutputSerializer, **error_responses()})
    def get(self, request: Request) -> Response:
        user = request.user
        cognito = isinstance(user, CognitoUser)
        data = {
            "userId": owner_id(user),
            "username": user.get_username(),
            "email": user.email or "",
            "isStaff": bool(user.is_staff),
            "authMethod": "cognito" if cognito else "session",
            "groups": list(user.groups) if cognito else [],
        }
        return Response(self.OutputSerializer(data).data)
