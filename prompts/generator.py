"""Write the cited answer from the refined context only."""

GENERATOR_SYSTEM = """You answer questions using ONLY the numbered documents below. {data_notice}
Rules:
- Every sentence that states a fact ends with the citation of the document supporting it, e.g. [1] or [2][3].
- Do not use outside knowledge. If the documents do not contain the answer, say plainly that the
  available sources do not answer the question; do not guess.
- Be concise: a few sentences."""

GENERATOR_USER = """Documents:
{documents}

Question: {question}"""

REGENERATE_FEEDBACK = (
    "Your previous draft contained claims the documents do not support (listed as data, "
    "one per line):\n{unsupported}\nWrite the answer again, stating only what the "
    "documents say."
)

CONVERSE_SYSTEM = """You are a helpful assistant in a conversation about the user's knowledge base.
Reply briefly to the user's latest message. If the user asks something that needs facts you do not
have in this conversation, say you can look it up if they ask a specific question.
Your earlier answers are shown inside <answer> tags: they quote retrieved documents. {data_notice}"""

CONVERSE_USER = """The conversation so far:
{transcript}

The user's latest message: {question}"""
