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
        self.similarity_to_values(&other.values)
    }

    /// [`Embedding::similarity`] with the values of a stored unit-length vector, read without
    /// building an [`Embedding`] for it; 0.0 when the dimensions differ.
    pub fn similarity_to_values(&self, other: &[f32]) -> f32 {
        if self.values.len() != other.len() {
            return 0.0;
        }
        dot(&self.values, other)
    }
}

/// How many partial sums [`dot`] keeps: independent sums let the compiler use vector
/// instructions (a single running sum must add one product after the other).
const LANES: usize = 8;

/// The dot product of two vectors of the same length. A search compares the question with each
/// of the caller's stored vectors, thousands of them, so this is summed in [`LANES`] lanes.
fn dot(left: &[f32], right: &[f32]) -> f32 {
    let (left_chunks, left_tail) = left.as_chunks::<LANES>();
    let (right_chunks, right_tail) = right.as_chunks::<LANES>();
    let mut lanes = [0.0f32; LANES];
    for (left, right) in left_chunks.iter().zip(right_chunks) {
        for ((sum, left), right) in lanes.iter_mut().zip(left).zip(right) {
            *sum += left * right;
        }
    }
    let tail: f32 = left_tail
        .iter()
        .zip(right_tail)
        .map(|(left, right)| left * right)
        .sum();
    lanes.iter().sum::<f32>() + tail
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
    fn similarity_counts_every_value_whatever_the_length() {
        // 384 values (all-MiniLM-L6-v2) fill whole lanes; 11 leave a remainder.
        for dimensions in [384, 11] {
            let values: Vec<f32> = (0..dimensions)
                .map(|index| (index % 7) as f32 - 3.0)
                .collect();
            let left = Embedding::new(values.clone());
            let mut reversed = values;
            reversed.reverse();
            let right = Embedding::new(reversed);
            let expected: f64 = left
                .values()
                .iter()
                .zip(right.values())
                .map(|(left, right)| f64::from(*left) * f64::from(*right))
                .sum();
            assert!((f64::from(left.similarity(&right)) - expected).abs() < 1e-5);
            assert_eq!(
                left.similarity_to_values(right.values()),
                left.similarity(&right)
            );
        }
    }

    #[test]
    fn embeddings_of_different_sizes_are_not_similar() {
        let left = Embedding::new(vec![1.0, 0.0]);
        assert_eq!(left.similarity(&Embedding::new(vec![1.0, 0.0, 0.0])), 0.0);
        assert_eq!(Embedding::new(vec![0.0, 0.0]).values(), &[0.0, 0.0]);
    }
}
