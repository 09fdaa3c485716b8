"""The local engine: offline, LLM-free replacements for the router, grader, generator and checker.

Pure functions over messages and `Doc` lists (no LangGraph imports), one module per role:
`router` (rewrite, decide, choose_sources, converse), `grader` (score_documents, classify:
CRAG's retrieval evaluator), `refine` (split_strips, refine), `generate` (extractive_answer),
`check` (check_answer) and the shared `text` utilities. Import the modules, e.g.
``from nodes.local import grader``; the package re-exports nothing, so ``nodes.local.refine``
is always the module.
"""
