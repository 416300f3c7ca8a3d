"""Schemathesis hooks of ordo's contract tests (tests/contract).

Every unsafe request takes an Idempotency-Key that is *unique per request* (the documents say
so); a JSON Schema cannot say "unique", so generated positive cases would reuse values and be
refused as `idempotency_key_reused`. A fresh key is put on each request whose headers were
generated valid; requests with a deliberately invalid or missing key keep what was generated.
"""

import uuid

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    if not headers:
        return
    name = next((k for k in headers if k.lower() == "idempotency-key"), None)
    if name is None:
        return
    meta = case.meta
    info = meta.components.get(ParameterLocation.HEADER) if meta else None
    if info is None or info.mode == GenerationMode.POSITIVE:
        headers[name] = str(uuid.uuid4())
