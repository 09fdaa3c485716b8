"""Run-time configuration: the `Context` every node reads as ``runtime.context``.

LangGraph Studio renders these fields (with their descriptions) as the assistant's
configuration. Any field can also be set from the environment as
``AGENTIC_RAG_<FIELD_NAME>`` (e.g. ``AGENTIC_RAG_TOP_K=6``) when it is left at its default.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from state.document import SourceName

DEFAULT_DATA_DIR = "./.agentic-rag"
RETRIEVAL_STRATEGIES = ("hybrid", "multi_query", "hyde")
WEB_SEARCH_DEPTHS = ("basic", "advanced")
WEB_APPROVAL_POLICIES = ("auto", "ask", "never")
ANSWER_REVIEW_POLICIES = ("off", "on_failure", "always")
WEB_TIME_RANGES = ("", "day", "week", "month", "year")
_DOMAIN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?:/[^\s]*)?$")
_KB_NAME = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
MODEL_FIELDS = ("router_model", "grader_model", "generator_model", "checker_model")
MODEL_KEYWORDS = ("", "auto", "local", "off")


class ModelConfigError(ValueError):
    """A model string that cannot be resolved; the message says why."""


def validate_model_spec(spec: Any, name: str = "model") -> str:
    """Return ``spec`` when it can name a model (``auto``, ``local``, ``off`` or
    ``provider:model``), else raise `ModelConfigError`. Whether the provider exists is
    checked when the model is built (`nodes.models.get_chat_model`).

    Example:
        >>> validate_model_spec("openai:gpt-4o-mini")
        'openai:gpt-4o-mini'
    """
    text = spec.strip() if isinstance(spec, str) else None
    if text is None or (text not in MODEL_KEYWORDS and ":" not in text):
        raise ModelConfigError(
            f"{name}: unknown model {spec!r}: use 'local', 'auto' or 'provider:model' "
            "(e.g. 'openai:gpt-4o-mini')"
        )
    return spec


def validate_kb_name(kb: str) -> str:
    """Return ``kb`` when it is a valid knowledge-base name, else raise ValueError.

    Example:
        >>> validate_kb_name("banking-2024")
        'banking-2024'
    """
    if not isinstance(kb, str) or not _KB_NAME.match(kb):
        raise ValueError(
            f"invalid knowledge base name {kb!r}: use 1-60 letters, digits, '-' or '_'"
        )
    return kb


def _f(default: Any, description: str) -> Any:
    return field(default=default, metadata={"description": description})


@dataclass(kw_only=True)
class Context:
    """Configuration of one run of the agentic RAG graph."""

    router_model: str = _f(
        "auto",
        "Model that rewrites the question and plans retrieval: 'auto' (openai:gpt-4o-mini when "
        "OPENAI_API_KEY is set, else 'local'), 'local' (offline rules), or 'provider:model' "
        "as accepted by langchain's init_chat_model.",
    )
    router_skip_plain: bool = _f(
        True,
        "Skip the router model for plain questions: a standalone question with one "
        "information need and no follow-up, comparison, memory, research, web-site or "
        "recent-events cue, which the offline rules send to the knowledge base as the model "
        "would. Saves one LLM call per such question; False sends every message to the model.",
    )
    grader_model: str = _f(
        "auto",
        "Model that grades retrieved documents in ONE batched call: 'auto', 'local' "
        "(score-based, calibrated thresholds) or 'provider:model'.",
    )
    generator_model: str = _f(
        "auto",
        "Model that writes the cited answer: 'auto', 'local' (extractive answer built from the "
        "best supported sentences) or 'provider:model'.",
    )
    checker_model: str = _f(
        "local",
        "Model that checks the answer is grounded and relevant: 'local' (each sentence verified "
        "against its cited source), 'provider:model' (one extra LLM call), or 'off'.",
    )
    openai_base_url: str = _f(
        "",
        "Base URL of an OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp server) used for "
        "'openai:' models. Empty: OPENAI_BASE_URL or the OpenAI API.",
    )
    request_timeout: float = _f(20.0, "Timeout in seconds for every model and network call.")
    data_dir: str = _f(
        DEFAULT_DATA_DIR, "Directory holding the Chroma index, the BM25 index and SQLite files."
    )
    kb: str = _f("default", "Knowledge base (collection) to search in the vector store.")
    top_k: int = _f(4, "Documents retrieved per (sub-question x source).")
    embedding_model: str = _f(
        "local",
        "Embedder for NEW knowledge bases: 'local' (offline MiniLM ONNX), 'openai:<model>' "
        "(OpenAI, or the openai_base_url endpoint) or a name registered with "
        "tools.embeddings.register_embeddings. An existing knowledge base is always searched "
        "with the embedder that built it; ingesting into it with another one is refused.",
    )
    filters: dict[str, str] = field(
        default_factory=dict,
        metadata={
            "description": "Metadata equality filters applied to both the dense and the BM25 "
            'index, e.g. {"tenant": "acme"} or {"path": "docs/fees.md"}. Chunks ingested '
            "with a 'tenant' are only returned when this names their tenant; chunks ingested "
            "for a user (--user) only to that user_id. The knowledge base itself is chosen "
            "with 'kb'."
        },
    )
    retrieval_strategy: str = _f(
        "hybrid",
        "Knowledge-base search strategy: 'hybrid' (dense + BM25), 'multi_query' (RAG-Fusion: "
        "the router model writes 3 alternative queries, results fused with RRF) or 'hyde' "
        "(search with a hypothetical answer written by the router model). The last two need "
        "an LLM router model and fall back to 'hybrid' otherwise.",
    )
    web_search: bool = _f(
        True, "Allow Tavily web search (also needs TAVILY_API_KEY). Also gates the CRAG fallback."
    )
    web_approval: str = _f(
        "auto",
        "Human approval of web searches: 'auto' (search without asking), 'ask' (pause and show "
        "the exact query; the human approves, edits or refuses it) or 'never' (internal "
        "sources only).",
    )
    clarify: bool = _f(
        True,
        "Ask the human one clarifying question when a message is too ambiguous to retrieve for "
        "(e.g. 'how much is it?' with nothing earlier to resolve 'it').",
    )
    answer_review: str = _f(
        "off",
        "Human review of the answer before it is posted: 'off', 'on_failure' (when the checks "
        "still fail after the budgets) or 'always'. The human accepts, edits or rejects it.",
    )
    web_search_depth: str = _f(
        "basic", "Tavily search depth: 'basic' (fast, 1 credit) or 'advanced' (2 credits)."
    )
    web_max_results: int = _f(0, "Web results per search (1-20); 0 uses top_k.")
    web_include_domains: list[str] = field(
        default_factory=list,
        metadata={"description": 'Only search these domains, e.g. ["python.org"].'},
    )
    web_exclude_domains: list[str] = field(
        default_factory=list,
        metadata={"description": "Never return results from these domains."},
    )
    web_time_range: str = _f(
        "", "Only web results from the last 'day', 'week', 'month' or 'year'; empty: any time."
    )
    web_extract_top: int = _f(
        0,
        "Fetch the fuller page text (Tavily /extract) for this many top web hits; 0: use the "
        "search snippets only.",
    )
    arxiv_search: bool = _f(
        False, "Allow arXiv search for research-paper questions (needs network access)."
    )
    memory_search: bool = _f(
        True, "Allow searching the user's long-term memories (needs a store attached to the graph)."
    )
    remember: bool = _f(
        True,
        "Save durable facts the user states about themselves, or asks to be remembered, to "
        "their long-term memory (needs a store attached to the graph).",
    )
    user_id: str = _f(
        "default",
        "User whose long-term memories are searched and written, and whose own documents "
        "(ingested with --user) are searched besides the shared ones.",
    )
    correct_threshold: float = _f(
        0.79,
        "Relevance score (0-1) at or above which a document counts as clearly relevant; "
        "any such document makes the retrieval Correct.",
    )
    incorrect_threshold: float = _f(
        0.21,
        "Relevance score (0-1) below which a document is irrelevant; all below makes the "
        "retrieval Incorrect, anything in between is Ambiguous.",
    )
    strip_threshold: float = _f(
        0.27, "Knowledge strips scoring below this (0-1) are dropped by refine_knowledge."
    )
    max_rewrites: int = _f(2, "Budget: query rewrites after an answer judged not relevant.")
    max_generations: int = _f(2, "Budget: answer generations per turn (first one included).")
    max_web_searches: int = _f(1, "Budget: web searches (CRAG fallback included) per turn.")

    def __post_init__(self) -> None:
        for f in fields(self):
            env = os.environ.get(f"AGENTIC_RAG_{f.name.upper()}")
            default = f.default_factory() if f.default is MISSING else f.default
            if env is not None and getattr(self, f.name) == default:
                setattr(self, f.name, _coerce(env, type(default), f.name))
        for name in (
            "max_rewrites",
            "max_generations",
            "max_web_searches",
            "top_k",
            "web_max_results",
            "web_extract_top",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if self.max_generations < 1 or self.top_k < 1:
            raise ValueError("max_generations and top_k must be at least 1")
        _check_text_fields(self)
        for name in MODEL_FIELDS:
            validate_model_spec(getattr(self, name), name)
        timeout = self.request_timeout
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ValueError(f"request_timeout must be a number of seconds, got {timeout!r}")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"request_timeout must be a positive number of seconds, got {timeout}")
        for name in ("correct_threshold", "incorrect_threshold", "strip_threshold"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {getattr(self, name)!r}")
        validate_kb_name(self.kb)
        self.filters = validate_filters(self.filters)
        if self.retrieval_strategy not in RETRIEVAL_STRATEGIES:
            raise ValueError(
                f"retrieval_strategy must be one of {', '.join(RETRIEVAL_STRATEGIES)}, "
                f"got {self.retrieval_strategy!r}"
            )
        if self.web_search_depth not in WEB_SEARCH_DEPTHS:
            raise ValueError(
                f"web_search_depth must be one of {', '.join(WEB_SEARCH_DEPTHS)}, "
                f"got {self.web_search_depth!r}"
            )
        for name, allowed in (
            ("web_approval", WEB_APPROVAL_POLICIES),
            ("answer_review", ANSWER_REVIEW_POLICIES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        if self.web_time_range not in WEB_TIME_RANGES:
            raise ValueError(
                "web_time_range must be empty or one of day, week, month, year, "
                f"got {self.web_time_range!r}"
            )
        if self.web_max_results > 20:
            raise ValueError(f"web_max_results must be at most 20, got {self.web_max_results}")
        self.web_include_domains = validate_domains(self.web_include_domains, "web_include_domains")
        self.web_exclude_domains = validate_domains(self.web_exclude_domains, "web_exclude_domains")
        if not isinstance(self.user_id, str) or not self.user_id.strip():
            raise ValueError("user_id must be a non-empty string")
        if self.incorrect_threshold > self.correct_threshold:
            raise ValueError("incorrect_threshold must not exceed correct_threshold")

    @property
    def enabled_sources(self) -> dict[SourceName, bool]:
        """The sources the configuration allows (availability is checked by each source)."""
        return {
            "vectorstore": True,
            "web": self.web_search and self.web_approval != "never",
            "arxiv": self.arxiv_search,
            "memory": self.memory_search,
        }


def _check_text_fields(ctx: Context) -> None:
    """Raise ValueError when a text setting holds undecodable bytes (lone surrogates, as
    ``surrogateescape`` decodes them from arguments and environment variables)."""
    for f in fields(ctx):
        for text in _texts(getattr(ctx, f.name)):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"{f.name} is not valid UTF-8 text: {text!r}") from None


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key)
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def validate_filters(filters: Any) -> dict[str, str]:
    """Return metadata ``filters`` as a ``{key: value}`` dict of strings, else raise ValueError.

    Example:
        >>> validate_filters({"tenant": "acme"})
        {'tenant': 'acme'}
    """
    if filters is None:
        return {}
    if not isinstance(filters, dict):
        raise ValueError(f"filters must be a {{key: value}} mapping, got {filters!r}")
    out: dict[str, str] = {}
    for key, value in filters.items():
        if not isinstance(key, str) or not key or key.startswith("$"):
            raise ValueError(f"invalid filter key {key!r}")
        if key == "kb":
            raise ValueError("'kb' is not a metadata filter: set the kb field instead")
        if key == "owner":
            raise ValueError(
                "'owner' is not a metadata filter: a user's own documents are searched "
                "as that user (user_id)"
            )
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(f"filter {key!r} needs a string value, got {value!r}")
        out[key] = str(value)
    return out


def validate_domains(domains: Any, name: str) -> list[str]:
    """Return ``domains`` as a list of domain names, else raise ValueError.

    Example:
        >>> validate_domains(["python.org", " docs.python.org "], "web_include_domains")
        ['python.org', 'docs.python.org']
    """
    if domains is None:
        return []
    if isinstance(domains, str) or not isinstance(domains, list | tuple):
        raise ValueError(f"{name} must be a list of domain names, got {domains!r}")
    out = []
    for domain in domains:
        text = domain.strip() if isinstance(domain, str) else ""
        if not _DOMAIN.match(text):
            raise ValueError(f"{name}: {domain!r} is not a domain name")
        out.append(text)
    return out


def _coerce(raw: str, kind: type, name: str) -> Any:
    try:
        if kind is list:
            text = raw.strip()
            if text.startswith("["):
                value = json.loads(text)
                if not isinstance(value, list):
                    raise ValueError(raw)
                return value
            return [part.strip() for part in text.split(",") if part.strip()]
        if kind is dict:
            value = json.loads(raw)
            if not isinstance(value, dict):
                raise ValueError(raw)
            return value
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except ValueError as exc:
        raise ValueError(
            f"AGENTIC_RAG_{name.upper()}={raw!r} is not a valid {kind.__name__}"
        ) from exc


def get_context(runtime: Any) -> Context:
    """The run's `Context`, or the defaults when the caller passed none."""
    ctx = getattr(runtime, "context", None)
    if ctx is None:
        return Context()
    if isinstance(ctx, dict):
        return Context(**ctx)
    return ctx
