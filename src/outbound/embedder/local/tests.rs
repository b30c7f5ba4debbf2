use std::sync::OnceLock;

use tempfile::TempDir;

use super::*;
use crate::test_doubles::{link_test_model_into, test_model_folder};

/// Loaded once for every test of this module: loading takes a moment.
fn embedder() -> &'static LocalEmbedder {
    static EMBEDDER: OnceLock<LocalEmbedder> = OnceLock::new();
    EMBEDDER.get_or_init(|| LocalEmbedder::load(&test_model_folder()).expect("the test model"))
}

async fn embed(texts: &[&str]) -> Vec<Embedding> {
    let texts: Vec<String> = texts.iter().map(|text| text.to_string()).collect();
    embedder().embed(&texts).await.expect("embeddings")
}

#[tokio::test]
async fn a_paraphrase_is_closer_than_an_unrelated_sentence() {
    let [allergy, question, sink] = <[Embedding; 3]>::try_from(
        embed(&[
            "I'm allergic to penicillin",
            "drug reactions",
            "my sink is leaking",
        ])
        .await,
    )
    .unwrap();
    let related = allergy.similarity(&question);
    let unrelated = allergy.similarity(&sink);
    assert!(
        related > unrelated + 0.1,
        "related {related}, unrelated {unrelated}"
    );
    let contact = embed(&["please text me", "how does he want to be contacted"]).await;
    assert!(contact[0].similarity(&contact[1]) > contact[0].similarity(&sink));
}

#[tokio::test]
async fn the_model_gives_unit_vectors_of_its_384_dimensions_named_after_its_folder() {
    assert_eq!(embedder().dimensions(), 384);
    assert_eq!(embedder().model_id(), "local:all-MiniLM-L6-v2");
    let embeddings = embed(&["Hello", ""]).await;
    assert_eq!(embeddings.len(), 2);
    for embedding in embeddings {
        assert_eq!(embedding.dimensions(), 384);
        let norm: f32 = embedding.values().iter().map(|value| value * value).sum();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    assert!(embedder().embed(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_same_text_gets_the_same_vector_alone_or_padded_in_a_batch() {
    let text = "Do you have any allergies? Yes, penicillin.";
    let alone = embed(&[text]).await.remove(0);
    let again = embed(&[text]).await.remove(0);
    assert_eq!(alone, again);
    let long = "I would like to move my appointment on Tuesday to the afternoon if at all possible, \
                because I drive my daughter to school in the morning and cannot be there before ten.";
    let batch = embed(&[long, text]).await;
    assert!(
        (alone.similarity(&batch[1]) - 1.0).abs() < 1e-4,
        "padding changed the vector"
    );
}

#[tokio::test]
async fn more_texts_than_a_batch_come_back_in_order_whatever_their_lengths() {
    // Their lengths go up and down, so batching texts of about the same length reorders them.
    let texts: Vec<String> = (0..BATCH_SIZE + 3)
        .map(|position| {
            let words = "about the invoice ".repeat(position * 5 % 7 + 1);
            format!("caller note {position} {words}")
        })
        .collect();
    let all = embedder().embed(&texts).await.unwrap();
    assert_eq!(all.len(), texts.len());
    for (text, embedding) in texts.iter().zip(&all) {
        let alone = embed(&[text]).await.remove(0);
        assert!(
            (embedding.similarity(&alone) - 1.0).abs() < 1e-4,
            "{text:?} came back with another text's vector"
        );
    }
}

#[tokio::test]
async fn a_text_longer_than_the_model_takes_is_truncated() {
    let long = "the caller asked about the invoice again. ".repeat(200);
    let embeddings = embed(&[&long]).await;
    assert_eq!(embeddings[0].dimensions(), 384);
}

/// A copy of the test model (links to its files) in a temporary folder, to break one file.
fn model_copy() -> TempDir {
    let copy = TempDir::new().unwrap();
    link_test_model_into(copy.path());
    copy
}

fn load_error(folder: &Path) -> String {
    match LocalEmbedder::load(folder) {
        Ok(_) => panic!("a broken model loaded"),
        Err(error) => format!("{error:#}"),
    }
}

#[test]
fn a_missing_model_file_is_named_in_the_error() {
    for name in [CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE] {
        let copy = model_copy();
        std::fs::remove_file(copy.path().join(name)).unwrap();
        let error = load_error(copy.path());
        assert!(error.contains(name), "{name}: {error}");
        assert!(error.contains("cannot be read"), "{name}: {error}");
    }
}

#[test]
fn a_corrupt_model_file_is_named_in_the_error() {
    for name in [
        CONFIG_FILE,
        TOKENIZER_FILE,
        WEIGHTS_FILE,
        SENTENCE_CONFIG_FILE,
        POOLING_FILE,
        PROMPTS_FILE,
    ] {
        let copy = model_copy();
        let path = copy.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        std::fs::write(&path, b"{\"truncated\": ").unwrap();
        let error = load_error(copy.path());
        assert!(error.contains(name), "{name}: {error}");
    }
}

#[test]
fn weights_of_another_shape_are_refused() {
    let copy = model_copy();
    let config = std::fs::read_to_string(test_model_folder().join(CONFIG_FILE)).unwrap();
    let path = copy.path().join(CONFIG_FILE);
    std::fs::remove_file(&path).unwrap();
    std::fs::write(
        &path,
        config.replace("\"num_hidden_layers\": 6", "\"num_hidden_layers\": 12"),
    )
    .unwrap();
    let error = load_error(copy.path());
    assert!(error.contains(WEIGHTS_FILE), "{error}");
}

/// The first values of two embeddings computed independently by
/// `scripts/reference-embeddings.py` (a numpy forward pass); the first is also the value the
/// sentence-transformers documentation prints for this sentence.
#[tokio::test]
async fn the_vectors_match_an_independent_implementation() {
    let references: [(&str, [f32; 8]); 2] = [
        (
            "This is an example sentence",
            [
                0.067657, 0.063496, 0.048713, 0.079305, 0.037448, 0.002653, 0.039375, -0.007098,
            ],
        ),
        (
            "I'm allergic to penicillin",
            [
                0.011829, -0.05601, 0.039909, -0.017812, 0.044275, -0.090294, 0.102957, 0.136451,
            ],
        ),
    ];
    for (text, expected) in references {
        let embedding = embed(&[text]).await.remove(0);
        for (index, (actual, expected)) in embedding.values().iter().zip(expected).enumerate() {
            assert!(
                (actual - expected).abs() < 1e-4,
                "{text}: value {index} is {actual}, expected {expected}"
            );
        }
    }
}

/// A copy of the test model whose `1_Pooling/config.json` turns on `modes`.
fn model_pooling_by(modes: &[&str]) -> TempDir {
    let copy = model_copy();
    let path = copy.path().join(POOLING_FILE);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut config = serde_json::json!({"word_embedding_dimension": 384});
    for mode in modes {
        config[format!("pooling_mode_{mode}")] = serde_json::Value::Bool(true);
    }
    std::fs::write(&path, config.to_string()).unwrap();
    copy
}

/// The first values `POOLING=cls` and `POOLING=max scripts/reference-embeddings.py` print for
/// "This is an example sentence"; a folder that says "mean" pools as one that says nothing.
#[tokio::test]
async fn the_pooling_the_folder_names_is_the_one_computed() {
    let text = vec!["This is an example sentence".to_owned()];
    let expected: [(&str, [f32; 4]); 3] = [
        ("mean_tokens", [0.067657, 0.063496, 0.048713, 0.079305]),
        ("cls_token", [0.005595, -0.002473, 0.025745, 0.017713]),
        ("max_tokens", [0.076029, 0.050154, 0.039384, 0.044867]),
    ];
    for (mode, expected) in expected {
        let folder = model_pooling_by(&[mode]);
        let embedder = LocalEmbedder::load(folder.path()).expect("the model loads");
        let embedding = embedder.embed(&text).await.unwrap().remove(0);
        for (index, (actual, expected)) in embedding.values().iter().zip(expected).enumerate() {
            assert!(
                (actual - expected).abs() < 1e-4,
                "{mode}: value {index} is {actual}, expected {expected}"
            );
        }
    }
}

#[tokio::test]
async fn first_token_and_max_pooling_ignore_the_padding_of_a_batch() {
    for mode in ["cls_token", "max_tokens"] {
        let folder = model_pooling_by(&[mode]);
        let embedder = LocalEmbedder::load(folder.path()).expect("the model loads");
        let short = "Yes, penicillin.".to_owned();
        let long =
            "I would like to move my appointment on Tuesday to the afternoon, please.".to_owned();
        let alone = embedder
            .embed(std::slice::from_ref(&short))
            .await
            .unwrap()
            .remove(0);
        let batch = embedder.embed(&[long, short]).await.unwrap();
        assert!((alone.similarity(&batch[1]) - 1.0).abs() < 1e-4, "{mode}");
    }
}

#[test]
fn a_pooling_that_is_not_computed_or_not_one_is_refused_naming_the_file() {
    for modes in [
        &["mean_sqrt_len_tokens"][..],
        &["lasttoken"][..],
        &["mean_tokens", "cls_token"][..],
        &[][..],
    ] {
        let folder = model_pooling_by(modes);
        let error = load_error(folder.path());
        assert!(error.contains(POOLING_FILE), "{modes:?}: {error}");
    }
}

/// A model whose settings give E5's prompts: a question is embedded as "query: " and its text,
/// a memory as "passage: " and its text; without the file, texts go in as they are.
#[tokio::test]
async fn questions_and_memories_get_the_prompts_the_folder_names() {
    let copy = model_copy();
    std::fs::write(
        copy.path().join(PROMPTS_FILE),
        r#"{"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": null}"#,
    )
    .unwrap();
    let prompted = LocalEmbedder::load(copy.path()).expect("the model loads");
    let question = "does she have any drug allergies";
    let memory = "Caller: I'm allergic to penicillin.".to_owned();
    let plain = embed(&[&format!("query: {question}"), &format!("passage: {memory}")]).await;
    let asked = prompted.embed_query(question).await.unwrap();
    let stored = prompted
        .embed(std::slice::from_ref(&memory))
        .await
        .unwrap()
        .remove(0);
    assert!((asked.similarity(&plain[0]) - 1.0).abs() < 1e-4);
    assert!((stored.similarity(&plain[1]) - 1.0).abs() < 1e-4);
    let unprompted = embedder().embed_query(question).await.unwrap();
    assert!((unprompted.similarity(&embed(&[question]).await[0]) - 1.0).abs() < 1e-4);
    assert!(unprompted.similarity(&asked) < 0.999);
}
