use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;

use crate::core::ports::{Embedder, EmbedderError};
use crate::core::recall::words::{content_words, stem};
use crate::core::Embedding;

/// Words that mean the same thing to [`ThesaurusEmbedder`]: each group is one dimension.
const THESAURUS: &[&[&str]] = &[
    &[
        "allergy",
        "allergic",
        "allergies",
        "reaction",
        "reactions",
        "penicillin",
        "intolerance",
    ],
    &[
        "contact",
        "contacted",
        "reach",
        "text",
        "texts",
        "sms",
        "email",
        "phone",
        "message",
    ],
    &[
        "dog", "dogs", "cat", "cats", "pet", "pets", "puppy", "kitten", "animal",
    ],
    &[
        "pay", "payment", "paid", "bill", "billing", "invoice", "charge", "card",
    ],
    &[
        "leak", "leaking", "drip", "dripping", "water", "pipe", "plumbing", "sink",
    ],
    &[
        "appointment",
        "booking",
        "booked",
        "visit",
        "slot",
        "reschedule",
        "schedule",
    ],
];

/// Dimensions for words outside the thesaurus, each word hashed to one of them.
const HASHED_DIMENSIONS: usize = 1024;

/// A deterministic [`Embedder`] for tests, no model needed: a word of a small thesaurus (pets,
/// allergies, contact, payment, plumbing, appointments), in any word form, adds to its group's dimension, any
/// other content word (stemmed) to a hashed dimension. So "drug reactions" is close to "allergic
/// to penicillin", and texts that share no meaning are far apart. It can be made to fail or to
/// answer late, and counts the texts it embedded.
#[derive(Debug, Default)]
pub struct ThesaurusEmbedder {
    failing: bool,
    delay: Mutex<Option<Duration>>,
    embedded: AtomicUsize,
}

impl ThesaurusEmbedder {
    pub fn new() -> Self {
        Self::default()
    }

    /// An embedder that is always unavailable.
    pub fn failing() -> Self {
        Self {
            failing: true,
            ..Self::default()
        }
    }

    /// Every later call answers only after `delay`.
    pub fn delay(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(|p| p.into_inner()) = Some(delay);
    }

    /// How many texts were embedded so far.
    pub fn embedded(&self) -> usize {
        self.embedded.load(Ordering::SeqCst)
    }

    /// The vector this embedder gives `text`.
    pub fn vector(text: &str) -> Embedding {
        let mut values = vec![0.0; THESAURUS.len() + HASHED_DIMENSIONS];
        for word in content_words(text) {
            // Any word form of a thesaurus word ("drips", "dripping") means what it means.
            let stemmed = stem(&word);
            match THESAURUS.iter().position(|group| {
                group
                    .iter()
                    .any(|member| *member == word || stem(member) == stemmed)
            }) {
                Some(group) => values[group] += 1.0,
                None => {
                    let mut hasher = DefaultHasher::new();
                    stem(&word).hash(&mut hasher);
                    values[THESAURUS.len() + (hasher.finish() as usize % HASHED_DIMENSIONS)] += 1.0;
                }
            }
        }
        Embedding::new(values)
    }
}

#[async_trait]
impl Embedder for ThesaurusEmbedder {
    fn model_id(&self) -> &str {
        "test:thesaurus"
    }

    fn dimensions(&self) -> usize {
        THESAURUS.len() + HASHED_DIMENSIONS
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        let delay = *self.delay.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        if self.failing {
            return Err(EmbedderError::unavailable(anyhow::anyhow!(
                "the test embedder is failing"
            )));
        }
        self.embedded.fetch_add(texts.len(), Ordering::SeqCst);
        Ok(texts.iter().map(|text| Self::vector(text)).collect())
    }
}
