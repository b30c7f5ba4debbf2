//! `BLOB_STORE_URL` and the `AWS_*` variables.

use super::super::*;

/// Validates `values` over the dev profile, with its folders in a temporary one.
fn settings_with(values: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let folder = tempfile::tempdir().unwrap();
    let payloads = folder.path().join("payloads");
    let database = folder.path().join("memory.sqlite3");
    let mut given = vec![
        ("PAYLOAD_STORAGE_PATH", payloads.to_str().unwrap()),
        ("OPENMEMORY_DB_PATH", database.to_str().unwrap()),
    ];
    given.extend_from_slice(values);
    Settings::from_values(Profile::Dev, given)
}

fn problems_with(values: &[(&str, &str)]) -> Vec<String> {
    settings_with(values).unwrap_err().problems
}

#[test]
fn without_a_url_objects_stay_in_the_data_folder() {
    let settings = settings_with(&[]).unwrap();
    assert_eq!(
        settings.blob_store,
        BlobStoreSettings::Disk(settings.payload_storage_path.clone())
    );
    assert_eq!(settings.blob_store.backend_name(), "disk");
}

#[test]
fn a_file_url_names_the_local_folder_of_objects() {
    let folder = tempfile::tempdir().unwrap();
    let url = url::Url::from_directory_path(folder.path().join("objects")).unwrap();
    let settings = settings_with(&[("BLOB_STORE_URL", url.as_str())]).unwrap();
    assert_eq!(
        settings.blob_store,
        BlobStoreSettings::Disk(folder.path().join("objects"))
    );
}

#[test]
fn an_s3_url_chooses_the_bucket_with_its_prefix_and_the_aws_variables() {
    let settings = settings_with(&[
        ("BLOB_STORE_URL", "s3://calls-archive/eu/prod/"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "very-secret"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ("AWS_ALLOW_HTTP", "true"),
    ])
    .unwrap();
    let BlobStoreSettings::Bucket(bucket) = &settings.blob_store else {
        panic!("not a bucket: {:?}", settings.blob_store);
    };
    assert_eq!(
        (bucket.bucket.as_str(), bucket.prefix.as_str()),
        ("calls-archive", "eu/prod")
    );
    let given: Vec<&str> = bucket.aws.iter().map(|(key, _)| *key).collect();
    assert_eq!(
        given,
        [
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_region",
            "aws_endpoint_url",
            "aws_allow_http"
        ]
    );
    assert!(!format!("{settings:?}").contains("very-secret"));
    assert_eq!(
        settings.blob_store.to_string(),
        "s3://calls-archive/eu/prod"
    );
    assert_eq!(settings.blob_store.backend_name(), "s3");
}

#[test]
fn a_url_of_another_kind_or_without_a_bucket_is_named() {
    for (url, expected) in [
        (
            "calls-archive",
            "BLOB_STORE_URL must be s3://<bucket>/<prefix> or file:///<folder>",
        ),
        (
            "https://calls-archive/x",
            "BLOB_STORE_URL must be s3://<bucket>/<prefix>",
        ),
        ("s3:///prefix-only", "BLOB_STORE_URL names no bucket"),
        (
            "s3://Calls_Archive",
            "BLOB_STORE_URL's bucket \"Calls_Archive\" is not a bucket name",
        ),
        (
            "s3://calls-archive/a//b",
            "BLOB_STORE_URL's prefix \"a//b\"",
        ),
        (
            "s3://key:secret@calls-archive",
            "BLOB_STORE_URL takes no credentials",
        ),
        (
            "file://relative/folder",
            "BLOB_STORE_URL must name an absolute local folder",
        ),
    ] {
        let problems = problems_with(&[("BLOB_STORE_URL", url)]);
        assert_eq!(problems.len(), 1, "{url}: {problems:?}");
        assert!(problems[0].starts_with(expected), "{url}: {problems:?}");
    }
}

#[test]
fn aws_variables_that_cannot_work_are_named_with_a_bucket() {
    let problems = problems_with(&[
        ("BLOB_STORE_URL", "s3://calls-archive"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ("AWS_ALLOW_HTTP", "yes"),
    ]);
    assert_eq!(
        problems,
        [
            "AWS_SECRET_ACCESS_KEY is missing: AWS_ACCESS_KEY_ID is set, and one needs the other",
            "AWS_ALLOW_HTTP must be one of true, false, not \"yes\"",
            "AWS_ENDPOINT_URL (http://127.0.0.1:9000/) is plain http: set AWS_ALLOW_HTTP=true to \
             allow it (for a server on a private network only)",
        ]
    );
    // Without a bucket they are not used, so they stop nothing.
    assert!(settings_with(&[("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")]).is_ok());
}
