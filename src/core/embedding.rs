//! Sentence embeddings: vectors whose closeness reflects closeness of meaning.

/// A unit-length vector computed by an [`crate::core::ports::Embedder`] from one text.
///
/// Vectors are normalised when built, so the cosine similarity of two embeddings of the same
/// model is their dot product. Embeddings of different models must never be compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    values: Vec<f32>,
}

impl Embedding {
    /// Normalises `values` to unit length. A zero vector stays zero (it is similar to nothing).
    pub fn new(mut values: Vec<f32>) -> Self {
        let norm = values.iter().map(|value| value * value).sum::<f32>().sqrt();
        if norm > 0.0 {
            values.iter_mut().for_each(|value| *value /= norm);
        }
        Self { values }
    }

    pub fn values(&self) -> &[f32] {
        &self.values
    }

    pub fn dimensions(&self) -> usize {
        self.values.len()
    }

    /// Cosine similarity, from -1.0 (opposite) to 1.0 (same meaning); 0.0 when the dimensions
    /// differ.
    pub fn similarity(&self, other: &Embedding) -> f32 {
        if self.values.len() != other.values.len() {
            return 0.0;
        }
        self.values
            .iter()
            .zip(&other.values)
            .map(|(left, right)| left * right)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_embedding_is_normalised_so_similarity_is_cosine() {
        let left = Embedding::new(vec![3.0, 4.0]);
        let right = Embedding::new(vec![6.0, 8.0]);
        assert!((left.values()[0] - 0.6).abs() < 1e-6);
        assert!((left.similarity(&right) - 1.0).abs() < 1e-6);
        assert!(left.similarity(&Embedding::new(vec![-4.0, 3.0])).abs() < 1e-6);
    }

    #[test]
    fn embeddings_of_different_sizes_are_not_similar() {
        let left = Embedding::new(vec![1.0, 0.0]);
        assert_eq!(left.similarity(&Embedding::new(vec![1.0, 0.0, 0.0])), 0.0);
        assert_eq!(Embedding::new(vec![0.0, 0.0]).values(), &[0.0, 0.0]);
    }
}
