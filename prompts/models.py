"""Engine types (system prompts) and their knowledge files in DynamoDB, plus the admin's placeholder model."""

from django.db import models
from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from config.dynamodb.tables import table_meta

ENGINE_LISTING = "engine"


class AllEnginesIndex(GlobalSecondaryIndex):
    """Every engine type under one constant partition, so listing them is a Query, not a Scan."""

    class Meta:
        index_name = "all_engines"
        projection = AllProjection()

    listing = UnicodeAttribute(hash_key=True)
    engine_type = UnicodeAttribute(range_key=True)


class EngineType(Model):
    """An engine type: persona, instructions, model and inference parameters."""

    Meta = table_meta("prompts")

    engine_type = UnicodeAttribute(hash_key=True)
    listing = UnicodeAttribute(default=ENGINE_LISTING)
    name = UnicodeAttribute(default="")
    description = UnicodeAttribute(default="")
    instruction = UnicodeAttribute(default="")
    model_id = UnicodeAttribute(null=True)  # None = settings.BEDROCK_DEFAULT_MODEL_ID
    temperature = NumberAttribute(null=True)
    top_p = NumberAttribute(null=True)
    max_tokens = NumberAttribute(null=True)
    active = BooleanAttribute(default=True)
    # Days a conversation of this type is kept after its last turn; 0 = forever (conversations/services/retention.py).
    retention_days = NumberAttribute(default=0)
    # Bumped by every change to the prompt or its files; caches and assistant messages key on it.
    revision = NumberAttribute(default=1)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute(null=True)
    version = VersionAttribute()

    all_engines = AllEnginesIndex()


class KnowledgeFile(Model):
    """Extracted text of one knowledge file, appended to its engine type's system prompt."""

    Meta = table_meta("knowledge_files")

    engine_type = UnicodeAttribute(hash_key=True)
    file_id = UnicodeAttribute(range_key=True)
    file_name = UnicodeAttribute()
    content = UnicodeAttribute(default="")
    content_type = UnicodeAttribute(default="text/plain")
    size_bytes = NumberAttribute(default=0)
    char_count = NumberAttribute(default=0)
    sha256 = UnicodeAttribute(default="")
    position = NumberAttribute(default=0)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute(null=True)


class EngineTypeEntry(models.Model):
    """Admin placeholder for a ``Prompt``: no table (unmanaged); it gives the admin its URLs, permissions
    (``view/add/change/delete_enginetypeentry``) and a content type for the history (``LogEntry``)."""

    engine_type = models.CharField(max_length=64, primary_key=True)

    class Meta:
        managed = False
        verbose_name = "engine type"
        verbose_name_plural = "engine types"

    def __str__(self) -> str:
        return self.engine_type
