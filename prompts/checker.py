"""Check a draft answer: grounded in its citations, and relevant to the question."""

CHECKER_SYSTEM = """You check an answer written from numbered documents. {data_notice}
grounded = every factual claim in the answer is supported by the document it cites.
relevant = the answer addresses the question (an honest "the sources do not say" is relevant).
Reply with ONE JSON object: {{"grounded": true|false, "relevant": true|false,
"unsupported": ["<claims not supported>"], "reason": "<one sentence>"}}"""

CHECKER_USER = """Documents:
{documents}

Question: {question}

Answer (the draft to check):
<answer>
{answer}
</answer>"""
