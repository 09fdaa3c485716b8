"""Offline router: query rewriting, retrieval decision, source choice and small talk."""

from __future__ import annotations

import re
from typing import Any, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from nodes.local.query import context_vocabulary, is_long, reduce_query
from nodes.local.remember import is_about_user, split_statements
from nodes.local.text import QUESTION_WORDS, STOPWORDS, tokenize

Decision = Literal["none", "single", "multi"]

_CHITCHAT_PREFIX = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|ok(?:ay)?|so|well|thanks"
    r"|thank you)\b[\s,!.:-]*)*"
    r"(?:(?:can|could|would|will) you (?:please )?(?:tell|explain to|show|help) me"
    r"(?: (?:about|with))?|(?:can|could|would|will) you (?:please )?explain"
    r"|please (?:tell me|explain)"
    r"|i (?:would like|want|wanted|need) to know|i(?:'m| am) wondering|i wonder|tell me"
    r"|do you know|quick question)?[\s,:]*",
    re.IGNORECASE,
)
_ANAPHORA = {
    "it",
    "its",
    "it's",
    "that",
    "those",
    "these",
    "they",
    "them",
    "their",
    "theirs",
    "this",
    "there",
    "he",
    "she",
    "him",
    "her",
    "his",
    "hers",
    "one",
    "ones",
    "same",
    "former",
    "latter",
}
_FOLLOW_UP = re.compile(
    r"^(?:(?:and|also|then)(?:\s+(?:what|how) about)?|what about|how about|what of|same for)\b",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|yo|good (?:morning|afternoon|evening|night)|thanks|thank you|thx"
    r"|cheers|bye|goodbye|see you|ok|okay|cool|great|nice|awesome|perfect|got it|sure"
    r"|how are you(?: doing)?|who are you|what can you do|nice to meet you)\b[\s\w,!.?']{0,20}$",
    re.IGNORECASE,
)
_ABOUT_CONVERSATION = re.compile(
    r"\b(?:what (?:did|have) (?:i|we) (?:just )?(?:ask|say|said|talk|discuss)|what was my"
    r" (?:last|previous|first) (?:question|message)|(?:my|the) (?:last|previous) question"
    r"|what did you (?:just )?(?:say|answer|tell me)|repeat (?:that|your (?:last )?answer)"
    r"|summari[sz]e (?:our|this|the) (?:conversation|chat)|what have we (?:talked|discussed))",
    re.IGNORECASE,
)
_COMPARE = re.compile(
    r"(?:difference|differences|compare|comparison|versus|vs\.?)\s+(?:between\s+)?"
    r"(?P<a>.+?)\s+(?:and|with|to|vs\.?|versus)\s+(?P<b>.+?)[?.!]*$",
    re.IGNORECASE,
)
_WH_JOIN = re.compile(
    r"\s*(?:,\s*)?\b(?:and|also|plus)\s+(?=(?:what|when|where|which|who|whom|whose|why|how|is"
    r"|are|can|does|do)\b)",
    re.IGNORECASE,
)
_ARXIV_ID = re.compile(r"\b(?:arxiv:)?\d{4}\.\d{4,5}(?:v\d+)?\b", re.IGNORECASE)
_URL = re.compile(r"https?://|www\.|\b[\w-]+\.(?:com|org|net|io|gov|edu|co\.uk|ai|dev)\b", re.I)
_RESEARCH = re.compile(
    r"\b(?:paper|papers|preprint|preprints|arxiv|publication|published|authors?|et al"
    r"|recent (?:work|research|advances|studies) (?:on|in)|state of the art|sota|literature"
    r"|survey of|benchmark results|citation|cite|journal|conference|neurips|icml|iclr|acl)\b",
    re.IGNORECASE,
)
_PERSONAL = re.compile(
    r"\b(?:my (?:name|preferences?|plans?|favou?rite|birthday|job|address|goals?|projects?"
    r"|family|age|email|interests?|history|office|employer|company|team)|i told you|i said"
    r"|i mentioned|did i (?:tell|say|mention)|remember|remind me|know about me|about me"
    r"|we talked|last time|earlier conversation|previous conversation)\b",
    re.IGNORECASE,
)
_PERSONAL_DOMAIN = re.compile(r"\bmy\s+(?:account|card|balance|loan|transfer|payment)s?\b", re.I)
_RECENT = re.compile(
    r"\b(?:latest|today|tonight|yesterday|tomorrow|this (?:week|month|year)|right now|currently"
    r"|current (?:price|rate|status|weather|events?|news|version)|news|breaking|recent(?:ly)?"
    r"|live|stock price|weather|score of|who won|20[2-9]\d)\b",
    re.IGNORECASE,
)


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(
        part.get("text", "") if isinstance(part, dict) else str(part) for part in content
    )


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _human_turns(messages: list[BaseMessage]) -> list[str]:
    return [_squeeze(_text(m)) for m in messages if isinstance(m, HumanMessage) and _text(m)]


def strip_chitchat(question: str) -> str:
    """Remove greetings and politeness prefixes, keeping the actual request.

    Example:
        >>> strip_chitchat("Hi, can you tell me how do I open an account?")
        'How do I open an account?'
    """
    text = _squeeze(question)
    stripped = _CHITCHAT_PREFIX.sub("", text, count=1).strip()
    if not tokenize(stripped):
        return text
    return stripped[0].upper() + stripped[1:]


def key_phrase(question: str) -> str:
    """The content words of a question, in order, as a compact phrase.

    Example:
        >>> key_phrase("How do I open a Blue Account?")
        'open Blue Account'
    """
    words = re.findall(r"[A-Za-z0-9][\w'’.-]*[A-Za-z0-9]|[A-Za-z0-9]", question)
    keep = [
        w
        for w in words
        if w.lower() not in STOPWORDS and w.lower() not in QUESTION_WORDS and w.lower() != "tell"
    ]
    return " ".join(keep)


def _needs_context(question: str) -> bool:
    words = tokenize(question)
    content = [w for w in words if w not in STOPWORDS and w not in QUESTION_WORDS]
    return (
        bool(_FOLLOW_UP.match(question))
        or any(w in _ANAPHORA for w in words)
        or len(content) <= 1
        or len(words) <= 3
    )


def rewrite(messages: list[BaseMessage], ctx: Any = None) -> str:
    """A standalone search query for the latest user message.

    Chit-chat prefixes are removed; a follow-up (pronouns, "and what about ...", or a very
    short question) gets the key phrase of the previous user question prepended. A long
    message is reduced by `nodes.local.query.reduce_query` (its sentences ordered by how
    much of the knowledge base's vocabulary they carry).

    Args:
        messages: The conversation, oldest first; the last `HumanMessage` is the question.
        ctx: The `Context` whose knowledge base supplies the vocabulary for long messages
            (None: reduce without it).

    Returns:
        The query (the question itself when it is already standalone).

    Example:
        >>> from langchain_core.messages import HumanMessage as H, AIMessage as A
        >>> rewrite([H("How do I open a Blue Account?"), A("..."), H("and what about its fees?")])
        'open Blue Account: its fees?'
    """
    turns = _human_turns(messages)
    if not turns:
        return ""
    question = strip_chitchat(turns[-1])
    if is_long(question):
        raw = next(_text(m) for m in reversed(messages) if isinstance(m, HumanMessage) and _text(m))
        return reduce_query(raw, context_vocabulary(ctx))
    if len(turns) < 2 or not _needs_context(question):
        return question
    previous = key_phrase(strip_chitchat(turns[-2]))
    if not previous or previous.lower() in question.lower():
        return question
    rest = _FOLLOW_UP.sub("", question, count=1).strip(" ,") or question
    return f"{previous}: {rest[0].lower()}{rest[1:]}"


def _split_compound(question: str) -> list[str]:
    compare = _COMPARE.search(question)
    if compare:
        a, b = (_squeeze(compare.group(g)).strip(" ,") for g in ("a", "b"))
        if a and b:
            return [f"What is {a}?", f"What is {b}?"]
    parts = [p.strip(" ,;") for p in re.split(r"(?<=\?)\s*", question) if p.strip(" ,;")]
    if len(parts) < 2:
        parts = [p.strip(" ,;") for p in _WH_JOIN.split(question) if p.strip(" ,;")]
    parts = [p if p.endswith("?") else f"{p}?" for p in parts if len(tokenize(p)) >= 2]
    return parts[:4] if len(parts) >= 2 else []


def decide(
    question: str, query: str, history: list[BaseMessage]
) -> tuple[Decision, list[str], str]:
    """Whether to retrieve, and for which (sub-)questions.

    Args:
        question: The user's latest message as typed.
        query: The standalone query from `rewrite`.
        history: The earlier conversation (unused by the rules; kept for the LLM router's
            signature).

    Returns:
        ``(decision, sub_questions, reason)``: ``"none"`` with no sub-questions for small
        talk, statements to remember, and questions about the conversation itself;
        ``"multi"`` with 2-4 standalone sub-questions for compound questions and
        comparisons; otherwise ``"single"`` with ``[query]``.
    """
    text = _squeeze(question)
    if not tokenize(text) or _GREETING.match(text):
        return "none", [], "greeting or small talk: nothing to look up"
    facts, rest = split_statements(text)
    if facts and not tokenize(rest):
        return "none", [], "a statement to remember: nothing to look up"
    if _ABOUT_CONVERSATION.search(text):
        return "none", [], "question about this conversation: answered from the history"
    if is_long(text):
        return "single", [query or text], "long message: one query, most informative first"
    parts = _split_compound(strip_chitchat(query or text))
    if len(parts) >= 2:
        anchor = HumanMessage(parts[0])
        subs = [parts[0]] + [rewrite([anchor, HumanMessage(p)]) for p in parts[1:]]
        return "multi", subs, f"compound question split into {len(subs)} sub-questions"
    return "single", [query or text], "one information need: retrieve for the query"


def choose_sources(query: str, available: list[str]) -> tuple[list[str], dict[str, str]]:
    """Pick the sources to search for a query among the available ones.

    Args:
        query: The standalone query.
        available: Source names that are enabled and reachable.

    Returns:
        ``(chosen, reasons)``: never empty when ``available`` is non-empty; the vector store is
        the default and the fallback when a matching source is unavailable.
    """
    wanted: dict[str, str] = {}
    if _ARXIV_ID.search(query) or _RESEARCH.search(query):
        wanted["arxiv"] = "research-paper question (paper, preprint, authors or arXiv id)"
    if _PERSONAL.search(query) or is_about_user(query):
        wanted["memory"] = "about the user or an earlier conversation"
        if _PERSONAL_DOMAIN.search(query):
            wanted["vectorstore"] = "account-specific question: the knowledge base may answer it"
    if _RECENT.search(query) or _URL.search(query):
        wanted["web"] = "needs recent or live information, or names a web site"
    chosen = [s for s in wanted if s in available]
    reasons = {s: wanted[s] for s in chosen}
    if not chosen and available:
        fallback = "vectorstore" if "vectorstore" in available else available[0]
        missing = ", ".join(wanted)
        reasons[fallback] = (
            f"fallback: {missing} not available" if missing else "default: the knowledge base"
        )
        chosen = [fallback]
    order = {name: i for i, name in enumerate(("vectorstore", "web", "arxiv", "memory"))}
    chosen.sort(key=lambda s: order.get(s, 99))
    return chosen, {s: reasons[s] for s in chosen}


def converse(question: str, history: list[BaseMessage], remembered: list[str] | None = None) -> str:
    """The reply for a turn that needs no retrieval.

    Args:
        question: The user's latest message.
        history: The earlier conversation, oldest first (without the latest message).
        remembered: Facts from this message saved to long-term memory.

    Returns:
        A short greeting/thanks reply, an acknowledgement of what was remembered, or an
        answer about the conversation taken from history.
    """
    text = _squeeze(question)
    lower = text.lower()
    if remembered:
        return "Noted. I will remember: " + " ".join(remembered)
    if split_statements(text)[0] and not tokenize(split_statements(text)[1]):
        return (
            "I cannot remember that: long-term memory is not available here "
            "(no memory store is attached, or remembering is turned off)."
        )
    if _ABOUT_CONVERSATION.search(text):
        asked = [t for t in _human_turns(history) if _squeeze(t) != text]
        if re.search(r"\b(?:you|your)\b.*\b(?:say|said|answer|tell)", lower) or "repeat" in lower:
            replies = [_squeeze(_text(m)) for m in history if isinstance(m, AIMessage)]
            if replies and replies[-1]:
                return f"My last answer was: {replies[-1]}"
            return "I have not answered anything yet in this conversation."
        if not asked:
            return "You have not asked me anything yet in this conversation."
        if "first" in lower:
            return f'Your first question was: "{asked[0]}"'
        if re.search(r"summari[sz]e|talked|discussed", lower):
            listed = "; ".join(f'"{q}"' for q in asked[-5:])
            return f"So far you asked: {listed}."
        return f'You asked: "{asked[-1]}"'
    if re.match(r"^(?:thanks|thank you|thx|cheers)", lower):
        return "You're welcome! Ask me anything else about the knowledge base."
    if re.match(r"^(?:bye|goodbye|see you)", lower):
        return "Goodbye!"
    if re.search(r"who are you|what can you do", lower):
        return (
            "I answer questions from the knowledge base (and other enabled sources) "
            "with citations to the passages I used."
        )
    return "Hello! What would you like to know? I answer from the knowledge base, with citations."


def is_plain(messages: list[BaseMessage]) -> bool:
    """Whether the rules route the latest message as well as a router model would.

    A plain message is a standalone question with one information need for the knowledge
    base: not a follow-up, small talk, a statement to remember, a compound question, a long
    message, or a question that names recent events, a web site, research papers or the
    user. Its query is the question itself, so a model adds nothing but a call.

    Example:
        >>> from langchain_core.messages import HumanMessage as H, AIMessage as A
        >>> is_plain([H("How much is the Bronze account's monthly fee?")])
        True
        >>> is_plain([H("What is the latest news on interest rates?")])
        False
        >>> is_plain([H("What does a Blue account cost?"), A("$5."), H("And its limits?")])
        False
    """
    turns = _human_turns(messages)
    if not turns:
        return False
    question = strip_chitchat(turns[-1])
    if is_long(question) or (len(turns) >= 2 and _needs_context(question)):
        return False
    decision, _, _ = decide(question, question, [])
    cues = (_ARXIV_ID, _URL, _RESEARCH, _PERSONAL, _PERSONAL_DOMAIN, _RECENT)
    return (
        decision == "single"
        and not split_statements(question)[0]
        and not is_about_user(question)
        and not any(cue.search(question) for cue in cues)
    )


def clarifying_question(question: str, history: list[BaseMessage]) -> str | None:
    """The one question to ask when a message cannot be retrieved for, else None.

    Only a first message can be too ambiguous: later ones are resolved against the thread.
    A message is too ambiguous when it leans on a reference with nothing to resolve it
    ("how much does it cost?") or carries no content word at all ("why?").

    Example:
        >>> clarifying_question("How much does it cost?", [])
        'What does "it" refer to? Please name the product, account or topic you mean.'
        >>> clarifying_question("How much does a wire transfer cost?", []) is None
        True
    """
    if _human_turns(history):
        return None
    words = tokenize(strip_chitchat(question))
    refs = [w for w in words if w in _ANAPHORA]
    content = [w for w in words if w not in STOPWORDS | QUESTION_WORDS | _ANAPHORA]
    if refs and len(content) <= 1:
        return (
            f'What does "{refs[0]}" refer to? Please name the product, account or topic you mean.'
        )
    if not content:
        return "Could you tell me a bit more about what you would like to know?"
    return None
