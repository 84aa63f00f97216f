import pytest

from agentotel.evaluation.agents import CallableAgent
from agentotel.evaluation.base import AgentResponse, TestCase
from agentotel.evaluation.quality import (
    AccuracyEvaluator,
    CoherenceEvaluator,
    CompletenessEvaluator,
    EmbeddingSimilarity,
    FactualityEvaluator,
    LexiconToxicityClassifier,
    RelevanceEvaluator,
    ToxicityEvaluator,
)
from agentotel.evaluation.text import TfidfSimilarity, normalize_answer, token_f1
from tests.evaluation.sample_agents import qa_agent


def scores(evaluator, case, output):
    return {s.name: s for s in evaluator.score(case, AgentResponse(output=output))}


def test_normalization_and_token_f1():
    assert normalize_answer("  The Eiffel-Tower!  ") == "eiffel tower"
    assert token_f1("the cat sat", "cat sat down") == pytest.approx(2 * (2 / 2) * (2 / 3) / (2 / 2 + 2 / 3))


def test_accuracy_exact_and_fuzzy():
    case = TestCase("c", "capital of France?", expected=["Paris", "Paris, France"])
    ev = AccuracyEvaluator()
    exact = scores(ev, case, "paris.")
    assert exact["accuracy.exact"].value == 1.0 and exact["accuracy.exact"].label == "pass"
    contained = scores(ev, case, "The capital of France is Paris.")
    assert contained["accuracy.exact"].value == 0.0 and contained["accuracy.fuzzy"].value >= 0.8
    typo = scores(ev, case, "Pariss")
    assert 0.8 <= typo["accuracy.fuzzy"].value < 1.0
    wrong = scores(ev, case, "Berlin")
    assert wrong["accuracy.fuzzy"].value < 0.5 and wrong["accuracy.fuzzy"].label == "fail"
    assert not ev.applies_to(TestCase("n", "q"))


def test_relevance_tfidf_ranks_on_topic_answers_higher():
    cases = [
        TestCase("a", "How do I reset my router password?", context=("Hold the reset button for 10 seconds to restore the router password.",)),
        TestCase("b", "What is the boiling point of water?", expected="Water boils at 100 degrees Celsius."),
    ]
    ev = RelevanceEvaluator()
    ev.prepare(cases)
    on_topic = scores(ev, cases[0], "Press and hold the router reset button for ten seconds; the password is restored.")
    off_topic = scores(ev, cases[0], "Bananas are rich in potassium.")
    assert on_topic["relevance"].value > 0.3 > off_topic["relevance"].value
    assert off_topic["relevance"].value == 0.0 and off_topic["relevance"].label == "irrelevant"
    assert scores(ev, cases[1], "Water boils at 100 degrees Celsius.")["relevance"].value == pytest.approx(1.0)
    assert TfidfSimilarity().similarity("same words here", "same words here") == pytest.approx(1.0)


def test_relevance_with_a_pluggable_embedding_backend():
    vectors = {"q": [1.0, 0.0], "good": [0.9, 0.1], "bad": [0.0, 1.0]}
    ev = RelevanceEvaluator(EmbeddingSimilarity(lambda texts: [vectors[t] for t in texts]))
    case = TestCase("c", "q")
    assert scores(ev, case, "good")["relevance"].value > 0.9
    assert scores(ev, case, "bad")["relevance"].value == 0.0


def test_completeness_counts_required_points():
    case = TestCase("c", "Plan a trip", required_points=("book flights", "reserve hotel", "travel insurance"))
    result = scores(CompletenessEvaluator(), case, "First book your flights, then reserve a hotel near the centre.")
    assert result["completeness"].value == pytest.approx(2 / 3)
    assert "travel insurance" in result["completeness"].explanation and result["completeness"].label == "fail"
    assert not CompletenessEvaluator().applies_to(TestCase("n", "q"))


def test_factuality_flags_unsupported_claims_numbers_and_negation():
    case = TestCase("c", "Tell me about the Eiffel Tower",
                    context=("The Eiffel Tower is in Paris. It was completed in 1889. It is 330 metres tall.",))
    ev = FactualityEvaluator()
    supported = scores(ev, case, "The Eiffel Tower is in Paris and was completed in 1889.")
    assert supported["hallucination"].value == 0.0 and supported["factuality"].value == 1.0
    wrong_year = scores(ev, case, "The Eiffel Tower was completed in 1925.")
    assert wrong_year["hallucination"].value == 1.0
    negated = scores(ev, case, "The Eiffel Tower is not in Paris.")
    assert negated["hallucination"].value == 1.0
    mixed = scores(ev, case, "The Eiffel Tower is in Paris. It was painted gold by Napoleon.")
    assert mixed["hallucination"].value == pytest.approx(0.5) and "Napoleon" in mixed["hallucination"].explanation


def test_toxicity_categories_and_pluggable_classifier():
    ev = ToxicityEvaluator()
    clean = scores(ev, TestCase("c", "q"), "Here is a polite and helpful answer.")
    assert clean["toxicity"].value == 0.0 and clean["toxicity"].label == "non_toxic"
    toxic = scores(ev, TestCase("c", "q"), "You are an idiot and a moron. I will kill you.")
    assert toxic["toxicity"].value == 0.75 and toxic["toxicity"].label == "toxic"
    assert "insult=0.75" in toxic["toxicity"].explanation and "threat=0.50" in toxic["toxicity"].explanation
    assert LexiconToxicityClassifier().matches("Immigrants are all criminals")["identity_attack"]
    assert "idiot" not in LexiconToxicityClassifier().matches("idiotic-free idiotype").get("insult", [])

    class Fixed:
        def classify(self, text):
            return {"custom": 0.9}

    assert scores(ToxicityEvaluator(Fixed()), TestCase("c", "q"), "x")["toxicity"].value == 0.9


def test_coherence_penalizes_repetition_contradiction_and_structure():
    ev = CoherenceEvaluator()
    case = TestCase("c", "q")
    good = scores(ev, case, "Paris is the capital of France. It lies on the Seine.")["coherence"]
    assert good.value == 1.0 and good.explanation == "no issues found"
    repeated = scores(ev, case, "The answer is yes. The answer is yes. The answer is yes. The answer is yes.")["coherence"]
    assert repeated.value < 0.5 and "repetition" in repeated.explanation
    contradiction = scores(ev, case, "The service is available on weekends. The service is not available on weekends.")["coherence"]
    assert contradiction.value <= 0.6 and "contradiction" in contradiction.explanation
    broken = scores(ev, case, "Call f(x with [1, 2")["coherence"]
    assert broken.value < 1.0 and "unbalanced" in broken.explanation
    assert scores(ev, case, "   ")["coherence"].value == 0.0


def test_evaluate_runs_a_real_agent_over_cases():
    cases = [
        TestCase("fr", "What is the capital of France?", expected="Paris"),
        TestCase("jp", "What is the capital of Japan?", expected="Tokyo"),
        TestCase("boom", "explode please", expected="x"),
    ]
    result = AccuracyEvaluator().evaluate(CallableAgent(qa_agent, name="qa"), cases)
    assert result.values("accuracy.fuzzy") == [0.9, 0.9]
    assert result.cases[2].error == "tool backend unavailable" and result.cases[2].error_type == "RuntimeError"
    assert not result.cases[2].scores


def test_factuality_without_context_accepts_a_restated_question():
    case = TestCase("c", "What is the capital of Japan?", expected="Tokyo")
    assert scores(FactualityEvaluator(), case, "The capital of Japan is Tokyo.")["hallucination"].value == 0.0
    assert scores(FactualityEvaluator(), case, "The capital of Japan is Osaka.")["hallucination"].value == 1.0
