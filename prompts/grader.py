"""Grade every retrieved document in one call (CRAG's retrieval evaluator)."""

GRADER_SYSTEM = """You are a retrieval evaluator. For EACH numbered document, rate how useful it is
for answering the question: 1.0 = contains the answer, 0.5 = related but incomplete,
0.0 = irrelevant. {data_notice}
Reply with ONE JSON object: {{"scores": [{{"id": 1, "score": 0.0}}, ...]}} covering every document."""

GRADER_USER = """Question: {question}

{documents}"""
