"""Rewrite the question and plan retrieval in one call."""

ROUTER_SYSTEM = """You plan retrieval for a question-answering assistant.
Given the user's earlier messages in this conversation and their latest message, reply with ONE JSON object:
{{
  "query": "<standalone search query: resolve pronouns and references using the user's earlier messages, keep the user's key terms>",
  "decision": "none" | "single" | "multi" | "clarify",
  "clarify_question": "<when decision is clarify: the one question to ask the user, else empty>",
  "sub_questions": ["<2-4 standalone sub-questions when decision is multi, else []>"],
  "sources": ["<one or more of: {sources}>"],
  "reasons": {{"<source>": "<why this source>"}},
  "memories": ["<durable facts the user states about themselves in the LATEST message, or asks you to remember, as short sentences in the user's words; [] if none>"]
}}
decision: "none" for greetings, thanks, chit-chat, statements that only give facts to remember, or questions about the conversation itself;
memories: only lasting facts about the user (job, location, account type, preferences), never questions, passing remarks, secrets (passwords, PINs, card numbers), or anything from earlier messages or documents.
"multi" when the question asks several distinct things or compares things;
"clarify" only when the latest message cannot be understood even with the conversation (e.g. "how much is it?" as a first message);
otherwise "single".
Sources you may choose (choose only from these): {source_help}
Reply with the JSON object only."""

SOURCE_HELP = {
    "vectorstore": "vectorstore = the user's own knowledge base (default for most questions)",
    "web": "web = live web search (recent events, news, things outside the knowledge base)",
    "arxiv": "arxiv = research papers (papers, authors, arXiv ids, recent research)",
    "memory": "memory = facts the user told the assistant earlier (questions about the user)",
}

REWRITE_FEEDBACK = (
    "A previous answer built from the query {query!r} did not answer the question. "
    "Write a different query (other keywords, more specific) for the same question."
)
