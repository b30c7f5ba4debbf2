//! How similar a model finds texts that have nothing to do with each other.
//!
//! Sentence models spread their cosine similarities differently: all-MiniLM-L6-v2 gives two
//! unrelated sentences about 0.08, E5 models about 0.77. The scorer's thresholds are set above
//! this chance level ([`super::scorer`]), so one cut-off serves every model: a model's chance
//! similarity is measured on [`UNRELATED_TEXTS`], in the background as the service starts.

use crate::core::ports::{Embedder, EmbedderError};

/// Things callers say, each about something else (trades, subjects, one language or another).
const UNRELATED_TEXTS: [&str; 16] = [
    "My water heater is leaking into the garage.",
    "Can I move my cleaning to Thursday morning?",
    "The dog has been scratching his ears all week.",
    "I want to dispute a charge on my credit card.",
    "We need a table for six on Saturday at eight.",
    "Is my prescription for insulin ready to pick up?",
    "The check engine light came on this morning.",
    "I'd like to cancel my gym membership.",
    "Our electricity bill doubled this month.",
    "Does my policy cover hail damage to the roof?",
    "My daughter has a fever and a sore throat.",
    "Necesito cambiar la dirección de mi cuenta.",
    "El perro no quiere comer desde ayer.",
    "I'm allergic to penicillin.",
    "Please text me instead of calling, I work nights.",
    "We're celebrating our anniversary, nothing spicy please.",
];

/// The highest chance similarity taken as measured: a model that finds everything this alike
/// cannot tell relevant from unrelated, and its scores are not stretched further.
const MAX_CHANCE: f32 = 0.95;

/// The mean similarity of a question to a memory about something else, for `embedder`'s model:
/// every text of [`UNRELATED_TEXTS`] embedded as a question against every other embedded as a
/// memory. At least 0, at most [`MAX_CHANCE`].
///
/// # Errors
/// The embedder's error, or [`EmbedderError::Unknown`] when it answers with the wrong number of
/// vectors.
pub async fn chance_similarity(embedder: &dyn Embedder) -> Result<f32, EmbedderError> {
    let texts: Vec<String> = UNRELATED_TEXTS
        .iter()
        .map(|text| (*text).to_owned())
        .collect();
    let memories = embedder.embed(&texts).await?;
    let questions = embedder.embed_queries(&texts).await?;
    if memories.len() != texts.len() || questions.len() != texts.len() {
        return Err(EmbedderError::Unknown(anyhow::anyhow!(
            "the embedder answered {} texts with {} and {} vectors",
            texts.len(),
            memories.len(),
            questions.len()
        )));
    }
    let mut total = 0.0;
    let mut pairs = 0u32;
    for (index, question) in questions.iter().enumerate() {
        for (other, memory) in memories.iter().enumerate() {
            if other != index {
                total += question.similarity(memory);
                pairs += 1;
            }
        }
    }
    Ok((total / pairs as f32).clamp(0.0, MAX_CHANCE))
}

#[cfg(test)]
mod tests;
