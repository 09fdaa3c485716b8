"""The classic LangGraph "Corrective RAG (CRAG)" tutorial, re-implemented as a baseline.

The tutorial is ``docs/docs/tutorials/rag/langgraph_crag.ipynb`` in the ``langchain-ai/langgraph``
repository (also ``examples/rag/langgraph_crag.ipynb``), published as
https://langchain-ai.github.io/langgraph/tutorials/rag/langgraph_crag/. Its structure was
checked against a stored copy of that page; this module keeps its nodes, edges, prompts and
LLM calls::

    START -> retrieve -> grade_documents -(decide_to_generate)-> generate -> END
                                         \\-> transform_query -> web_search_node -> generate

- ``retrieve``: the retriever's top 4 chunks (``vectorstore.as_retriever()`` defaults to k=4).
- ``grade_documents``: ONE grader LLM call PER DOCUMENT, a binary ``yes``/``no`` relevance
  score; ``yes`` documents are kept, and any ``no`` sets ``web_search = "Yes"``.
- ``decide_to_generate``: ``transform_query`` when ``web_search == "Yes"``, else ``generate``.
- ``transform_query``: one LLM call rewriting the question for web search.
- ``web_search_node``: Tavily results joined into ONE extra document.
- ``generate``: one LLM call with the ``rlm/rag-prompt`` prompt.

So a question costs 4 grader calls + 1 generation, plus 1 rewrite when any of the 4
documents is graded irrelevant: 5 or 6 LLM calls.

Deviations, none of which changes the number of LLM calls:

- Retrieval is this project's vector-store retriever
  (``tools.sources.get_retriever("vectorstore")``, hybrid dense + BM25) with ``k=4`` on the
  caller's index, so both systems compared see the same chunks.
- The tutorial's grader is ``llm.with_structured_output(GradeDocuments)`` (a function call
  returning ``binary_score``). Here the same prompt asks for a plain ``yes``/``no`` reply,
  which is parsed: fake chat models cannot do tool calling, and the call count is the same.
- Web search is a stub returning one fixed result (`stub_web_search`): no network. The
  tutorial also folds its web results into a single document.
- The ``rlm/rag-prompt`` text is inlined (``hub.pull`` needs the network), and the context is
  the documents' text joined by blank lines (the tutorial's own ``format_docs``) rather than
  the repr of the document list the tutorial's ``generate`` node passes.
- Progress ``print`` calls are left out.

Example:
    >>> from langchain_core.language_models import FakeListChatModel
    >>> app = build_crag_graph(
    ...     FakeListChatModel(responses=["The fee is $20."]),
    ...     retrieve_fn=lambda question: [],
    ... )
    >>> app.invoke({"question": "What is the fee?"})["generation"]
    'The fee is $20.'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langgraph.graph import END, START, StateGraph
from typing_extensions import TypedDict

K = 4
"""Documents retrieved per question (the tutorial's ``as_retriever()`` default)."""

GRADER_SYSTEM = (
    "You are a grader assessing relevance of a retrieved document to a user question. \n\n"
    "    If the document contains keyword(s) or semantic meaning related to the question, "
    "grade it as relevant. \n\n"
    "    Give a binary score 'yes' or 'no' score to indicate whether the document is relevant "
    "to the question. Reply with 'yes' or 'no' only."
)
GRADER_HUMAN = "Retrieved document: \n\n {document} \n\n User question: {question}"

REWRITER_SYSTEM = (
    "You a question re-writer that converts an input question to a better version that is "
    "optimized \n\n     for web search. Look at the input and try to reason about the underlying "
    "semantic intent / meaning."
)
REWRITER_HUMAN = "Here is the initial question: \n\n {question} \n Formulate an improved question."

RAG_PROMPT = (
    "You are an assistant for question-answering tasks. Use the following pieces of retrieved "
    "context to answer the question. If you don't know the answer, just say that you don't "
    "know. Use three sentences maximum and keep the answer concise.\n"
    "Question: {question} \nContext: {context} \nAnswer:"
)
"""The ``rlm/rag-prompt`` prompt of the LangChain hub, as one human message."""

WEB_STUB_CONTENT = (
    "Rho-Bank customer help: account fees, limits and procedures depend on the account tier; "
    "contact customer support or check the account agreement for the exact terms."
)
"""The one result the stub web search returns for every query."""

NODES = ("retrieve", "grade_documents", "transform_query", "web_search_node", "generate")


class GraphState(TypedDict, total=False):
    """The tutorial's graph state.

    Attributes:
        question: The question (replaced by the rewritten one before web search).
        generation: The LLM's answer.
        web_search: ``"Yes"`` when some retrieved document was graded irrelevant.
        documents: The documents kept for generation.
    """

    question: str
    generation: str
    web_search: str
    documents: list[Document]


def stub_web_search(query: str) -> list[dict[str, str]]:
    """Stand-in for ``TavilySearchResults(k=3).invoke``: one fixed result, no network.

    Example:
        >>> len(stub_web_search("overdraft fee"))
        1
    """
    return [{"url": "https://example.invalid/help", "content": WEB_STUB_CONTENT}]


def vectorstore_retrieve(data_dir: str, *, kb: str = "default", k: int = K) -> Callable:
    """A ``question -> list[Document]`` function over this project's vector-store retriever.

    Args:
        data_dir: The data directory holding the index.
        kb: The knowledge base to search.
        k: Chunks per question.
    """
    from state.context import Context
    from tools import sources

    ctx = Context(data_dir=data_dir, kb=kb, top_k=k)

    def retrieve(question: str) -> list[Document]:
        docs = sources.get_retriever("vectorstore").retrieve(question, ctx, k=k)
        return [
            Document(
                page_content=d["content"],
                metadata={"id": d["id"], "title": d["title"], "location": d["location"]},
            )
            for d in docs
        ]

    return retrieve


def is_yes(reply: Any) -> bool:
    """Whether a grader reply says ``yes`` (the tutorial compares ``binary_score == "yes"``).

    Example:
        >>> is_yes(" Yes."), is_yes("no")
        (True, False)
    """
    text = reply.content if hasattr(reply, "content") else reply
    return str(text).strip().strip("'\".").lower() == "yes"


def format_docs(docs: list[Document]) -> str:
    """The tutorial's ``format_docs``: document texts separated by blank lines."""
    return "\n\n".join(doc.page_content for doc in docs)


def build_crag_graph(
    llm: BaseChatModel,
    *,
    retrieve_fn: Callable[[str], list[Document]],
    grader_llm: BaseChatModel | None = None,
    rewriter_llm: BaseChatModel | None = None,
    web_search: Callable[[str], list[dict[str, str]]] = stub_web_search,
    checkpointer: Any = None,
):
    """Compile the tutorial's CRAG graph.

    Args:
        llm: The chat model generating answers (and grading and rewriting unless the
            role-specific models are given; the tutorial uses one OpenAI model throughout).
        retrieve_fn: ``question -> documents``; see `vectorstore_retrieve`.
        grader_llm: The model grading each document (default: ``llm``).
        rewriter_llm: The model rewriting the question for web search (default: ``llm``).
        web_search: ``query -> [{"content": ...}, ...]``; default: `stub_web_search`.
        checkpointer: A LangGraph checkpointer (the tutorial compiles without one).
    """
    grade_prompt = ChatPromptTemplate.from_messages(
        [("system", GRADER_SYSTEM), ("human", GRADER_HUMAN)]
    )
    retrieval_grader = grade_prompt | (grader_llm or llm)
    rewrite_prompt = ChatPromptTemplate.from_messages(
        [("system", REWRITER_SYSTEM), ("human", REWRITER_HUMAN)]
    )
    question_rewriter = rewrite_prompt | (rewriter_llm or llm) | StrOutputParser()
    rag_chain = ChatPromptTemplate.from_messages([("human", RAG_PROMPT)]) | llm | StrOutputParser()

    def retrieve(state: GraphState) -> GraphState:
        """Retrieve the question's top documents."""
        question = state["question"]
        return {"documents": retrieve_fn(question), "question": question}

    def grade_documents(state: GraphState) -> GraphState:
        """Grade each document with its own LLM call; keep the relevant ones."""
        question, documents = state["question"], state["documents"]
        filtered_docs, web = [], "No"
        for doc in documents:
            score = retrieval_grader.invoke({"question": question, "document": doc.page_content})
            if is_yes(score):
                filtered_docs.append(doc)
            else:
                web = "Yes"
        return {"documents": filtered_docs, "question": question, "web_search": web}

    def transform_query(state: GraphState) -> GraphState:
        """Rewrite the question for web search (one LLM call)."""
        better_question = question_rewriter.invoke({"question": state["question"]})
        return {"documents": state["documents"], "question": better_question}

    def web_search_node(state: GraphState) -> GraphState:
        """Append the web results, joined into one document."""
        results = web_search(state["question"])
        web_results = Document(page_content="\n".join(r["content"] for r in results))
        return {"documents": [*state["documents"], web_results], "question": state["question"]}

    def generate(state: GraphState) -> GraphState:
        """Answer from the kept documents (one LLM call)."""
        question, documents = state["question"], state["documents"]
        generation = rag_chain.invoke({"context": format_docs(documents), "question": question})
        return {"documents": documents, "question": question, "generation": generation}

    def decide_to_generate(state: GraphState) -> str:
        """Rewrite and search the web when some document was irrelevant, else generate."""
        return "transform_query" if state["web_search"] == "Yes" else "generate"

    workflow = StateGraph(GraphState)
    workflow.add_node("retrieve", retrieve)
    workflow.add_node("grade_documents", grade_documents)
    workflow.add_node("generate", generate)
    workflow.add_node("transform_query", transform_query)
    workflow.add_node("web_search_node", web_search_node)
    workflow.add_edge(START, "retrieve")
    workflow.add_edge("retrieve", "grade_documents")
    workflow.add_conditional_edges(
        "grade_documents",
        decide_to_generate,
        {"transform_query": "transform_query", "generate": "generate"},
    )
    workflow.add_edge("transform_query", "web_search_node")
    workflow.add_edge("web_search_node", "generate")
    workflow.add_edge("generate", END)
    return workflow.compile(checkpointer=checkpointer, name="crag_tutorial")
