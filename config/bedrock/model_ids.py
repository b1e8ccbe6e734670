"""Model id helpers shared by the Bedrock adapter and pricing."""

import re

# Cross-region inference profile ids ("us.anthropic...") name a foundation model with a geography prefix.
_PROFILE_PREFIX = re.compile(r"^(?:us|eu|apac|jp|au|ca|us-gov|global)\.(?=[\w-]+\.)")


def base_model_id(model_id: str) -> str:
    """The foundation model id behind an inference-profile id (unchanged when it has no profile prefix)."""
    return _PROFILE_PREFIX.sub("", model_id)
