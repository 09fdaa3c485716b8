"""Query expansion for knowledge-base search: multi-query (RAG-Fusion) and HyDE."""

MULTI_QUERY_SYSTEM = """You write search queries for a knowledge-base search engine (keyword + semantic search).
Given the user's question, write {n} alternative search queries that could retrieve passages answering it:
rephrase with synonyms, name the product, policy or technical terms a document would use, and vary how specific they are.
Each query must stand alone, keep the question's key terms and language, and stay under 25 words.
Reply with ONE JSON object only: {{"queries": ["<query 1>", "<query 2>", "<query 3>"]}}"""

HYDE_SYSTEM = """You help a search engine by writing the passage a good answer document would contain.
Given the user's question, write ONE short passage (2-4 sentences, under 120 words) in the style of the
reference, policy or manual text that answers it, using the terms such a document would use.
The passage is only used to search: state it plainly, without hedging and without saying it is hypothetical.
Reply with the passage only."""

QUESTION = "Question: {question}"
