"""Request and response shapes of the blueprint endpoints (REST and MCP input schemas). No rules
here: documents are checked by the model (documents.validate), parameters by the blueprint's
own JSON Schema (services.use)."""

from __future__ import annotations

from rest_framework import serializers

from .models import Source


class DocumentField(serializers.JSONField):
    """A YAML or JSON document: text, or an object."""


class BlueprintSaveSerializer(serializers.Serializer):
    document = DocumentField(help_text="The blueprint document: YAML/JSON text or an object (name, version, title, "
                                       "description, parameters as a JSON Schema, steps).")
    tenant = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                      help_text="Tenant of a new blueprint (needed if you can add in several).")


class PublishSerializer(serializers.Serializer):
    changelog = serializers.CharField(required=False, allow_blank=True, max_length=500,
                                      help_text="What changed in this version (shown in the community catalog).")


class ImportSerializer(serializers.Serializer):
    tenant = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    name = serializers.RegexField(r"^[a-z0-9][a-z0-9_.-]{0,99}$", required=False, allow_blank=True,
                                  help_text="Name of the private copy (default: the same name).")


class ListedSerializer(serializers.Serializer):
    listed = serializers.BooleanField(default=False)


class UseSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="The blueprint's name.")
    params = serializers.JSONField(required=False, default=dict,
                                   help_text="Parameters (an object matching the blueprint's parameter schema).")
    source = serializers.ChoiceField(choices=Source.choices, required=False, allow_blank=True,
                                     help_text="private, official or community (default: the first found in that "
                                               "order).")
    version = serializers.CharField(required=False, allow_blank=True, max_length=40,
                                    help_text="Community version (default: the newest).")
    tenant = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                      help_text="Tenant to run in (needed if you can run jobs in several).")
    dry_run = serializers.BooleanField(default=False, help_text="Only return the plan (nothing changes).")
    confirm = serializers.CharField(required=False, allow_blank=True, max_length=64,
                                    help_text="The confirm token of the dry run, for plans that need confirmation.")

    def validate_params(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Parameters are a JSON object.")
        return value

