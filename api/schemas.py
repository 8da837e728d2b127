"""Request and response models of the LangServe routes, built from the settings' limits.

The limits (question length, `k`, filter size) are part of the schema, so
LangServe's own validation answers 422 with a readable message and the
OpenAPI page shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, create_model, field_validator
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaMode
from pydantic_core import CoreSchema

from chains.history.text import check_text
from graph.options import STAGES, GraphOptions
from settings import Settings

SearchMode = Literal["hybrid", "dense", "sparse"]


class JsonSchemaWithoutNull(GenerateJsonSchema):
    """An optional field published as its type alone: no `{"type": "null"}` branch, no
    `default: null`.

    LangServe's playground renders forms with JSON Forms, which throws on a null branch
    (the whole page stays blank) and takes `default: null` as a value that fails its own
    validation. Validation is unchanged: an optional field may still be omitted or null.
    """

    def nullable_schema(self, schema: CoreSchema) -> dict[str, Any]:
        return self.generate_inner(schema["schema"])  # type: ignore[typeddict-item]

    def default_schema(self, schema: CoreSchema) -> dict[str, Any]:
        json_schema = super().default_schema(schema)  # type: ignore[arg-type]
        if "default" in json_schema and json_schema["default"] is None:
            del json_schema["default"]
        return json_schema


class RouteInput(BaseModel):
    """Base of every LangServe route's input: unknown fields refused, a playground-safe schema.

    LangServe and the playground call `model_json_schema()` with its defaults; FastAPI's
    OpenAPI document builds its own schema and keeps the null branches, as OpenAPI
    clients expect.
    """

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool = True,
        ref_template: str = DEFAULT_REF_TEMPLATE,
        schema_generator: type[GenerateJsonSchema] = JsonSchemaWithoutNull,
        mode: JsonSchemaMode = "validation",
        **kwargs: Any,
    ) -> dict[str, Any]:
        return super().model_json_schema(
            by_alias=by_alias,
            ref_template=ref_template,
            schema_generator=schema_generator,
            mode=mode,
            **kwargs,
        )


class Source(BaseModel):
    number: int
    id: str | None = None
    source: str | None = None
    title: str | None = None
    score: float | None = None
    page_content: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class ChatAnswer(BaseModel):
    """What history and RAG stages return: the answer, then sources and the stored id."""

    answer: str
    sources: list[Source] | None = None
    message_id: str | None = Field(None, description="id of the stored answer, for /feedback")
    session_id: str | None = None


class RetrievedChunk(BaseModel):
    page_content: str
    metadata: dict[str, Any]
    score: float


@dataclass(frozen=True)
class StageSchemas:
    input: type[BaseModel]
    output: Any


def _validators(settings: Settings) -> dict[str, Any]:
    def question(cls: Any, value: str) -> str:
        return check_text(value, field="question", max_chars=settings.max_question_chars)

    def username(cls: Any, value: str | None) -> str | None:
        from chains.history import validate_username

        return None if value is None else validate_username(value)

    def session_id(cls: Any, value: str | None) -> str | None:
        from chains.history import validate_session_id

        return None if value is None else validate_session_id(value)

    def request_id(cls: Any, value: str | None) -> str | None:
        if value is None:
            return None
        return check_text(value, field="request_id", max_chars=64, kind="name")

    def metadata_filter(cls: Any, value: dict[str, Any] | None) -> dict[str, Any] | None:
        from chains.index.filters import validate_filter

        return validate_filter(
            value, max_depth=settings.max_filter_depth, max_nodes=settings.max_filter_nodes
        )

    return {
        "check_question": field_validator("question")(question),
        "check_username": field_validator("username")(username),
        "check_session_id": field_validator("session_id")(session_id),
        "check_request_id": field_validator("request_id")(request_id),
        "check_filter": field_validator("filter")(metadata_filter),
    }


def _input_model(name: str, options: GraphOptions, settings: Settings) -> type[BaseModel]:
    fields: dict[str, Any] = {
        "question": (
            StrictStr,
            Field(..., description="The user's message", max_length=settings.max_question_chars),
        ),
    }
    if options.history:
        auth_on = settings.auth_enabled
        fields["username"] = (
            StrictStr | None if auth_on else StrictStr,
            Field(
                None if auth_on else ...,
                max_length=64,
                description="Who is asking (ignored when API keys are on: the key decides)",
            ),
        )
        fields["session_id"] = (
            StrictStr | None,
            Field(None, max_length=64, description="Default: 'default'"),
        )
        fields["request_id"] = (
            StrictStr | None,
            Field(None, max_length=64, description="Retries with the same id are stored once"),
        )
    if options.retrieval:
        fields["k"] = (int | None, Field(None, ge=1, le=settings.max_k))
    if options.filters:
        fields["filter"] = (
            dict[str, Any] | None,
            Field(
                None, description="Pinecone-style metadata filter, e.g. {'year': {'$gte': 2024}}"
            ),
        )
    if options.tunable_mode:
        fields["mode"] = (SearchMode | None, Field(None, description="Default: hybrid"))
        fields["alpha"] = (
            float | None,
            Field(None, ge=0.0, le=1.0, description="Dense weight in hybrid mode"),
        )
    validators = {
        key: value
        for key, value in _validators(settings).items()
        if key.removeprefix("check_") in fields or (key == "check_filter" and "filter" in fields)
    }
    return create_model(  # type: ignore[call-overload,no-any-return]
        name,
        __base__=RouteInput,
        __validators__=validators,
        **fields,
    )


def stage_schemas(settings: Settings) -> dict[str, StageSchemas]:
    schemas = {}
    for stage, options in STAGES.items():
        title = "".join(part.title() for part in stage.split("_"))
        output: Any = ChatAnswer if options.history or options.returns_sources else str
        schemas[stage] = StageSchemas(_input_model(f"{title}Input", options, settings), output)
    return schemas


def retrieve_input_model(settings: Settings) -> type[BaseModel]:
    validators = _validators(settings)

    def query(cls: Any, value: str) -> str:
        return check_text(value, field="query", max_chars=settings.max_question_chars)

    return create_model(  # type: ignore[call-overload,no-any-return]
        "RetrieveInput",
        __base__=RouteInput,
        __validators__={
            "check_query": field_validator("query")(query),
            "check_filter": validators["check_filter"],
        },
        query=(StrictStr, Field(..., max_length=settings.max_question_chars)),
        k=(int, Field(settings.retrieval_k, ge=1, le=settings.max_k)),
        filter=(dict[str, Any] | None, None),
        mode=(SearchMode, "hybrid"),
        alpha=(float | None, Field(None, ge=0.0, le=1.0)),
    )
