use super::*;
use crate::core::ports::MockEmbedder;
use crate::core::Embedding;

/// An embedder whose memories all get `memory` and whose questions all get `question`.
fn embedder(memory: Vec<f32>, question: Vec<f32>) -> MockEmbedder {
    let mut embedder = MockEmbedder::new();
    embedder
        .expect_embed()
        .returning(move |texts| Ok(vec![Embedding::new(memory.clone()); texts.len()]));
    embedder
        .expect_embed_queries()
        .returning(move |texts| Ok(vec![Embedding::new(question.clone()); texts.len()]));
    embedder
}

#[tokio::test]
async fn the_chance_similarity_is_the_mean_similarity_of_a_question_to_other_memories() {
    // Every question is at 60 degrees from every memory: cosine 0.5.
    let chance = chance_similarity(&embedder(vec![1.0, 0.0], vec![0.5, 0.75f32.sqrt()]))
        .await
        .unwrap();
    assert!((chance - 0.5).abs() < 1e-5, "{chance}");
}

#[tokio::test]
async fn a_model_that_finds_everything_alike_is_capped_and_opposites_count_as_zero() {
    let alike = chance_similarity(&embedder(vec![1.0, 0.0], vec![1.0, 0.0])).await;
    assert_eq!(alike.unwrap(), MAX_CHANCE);
    let opposite = chance_similarity(&embedder(vec![1.0, 0.0], vec![-1.0, 0.0])).await;
    assert_eq!(opposite.unwrap(), 0.0);
}

#[tokio::test]
async fn an_embedder_that_answers_too_few_vectors_is_an_error() {
    let mut embedder = MockEmbedder::new();
    embedder
        .expect_embed()
        .returning(|_| Ok(vec![Embedding::new(vec![1.0])]));
    embedder
        .expect_embed_queries()
        .returning(|texts| Ok(vec![Embedding::new(vec![1.0]); texts.len()]));
    let error = chance_similarity(&embedder).await.unwrap_err();
    assert!(matches!(error, EmbedderError::Unknown(_)), "{error:?}");
}
