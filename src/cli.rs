//! The command line: parses arguments and runs the chosen command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::commands::{self, ElevenLabsCommand};
use crate::config::{ConfigError, Profile, Settings};
use crate::core::use_cases::caller_privacy::Recordings;
use crate::core::use_cases::ingest_call::ReplayTarget;
use crate::core::ConversationId;
use crate::inbound::http::{openapi_json, openapi_yaml, signature};
use crate::outbound::embedder::catalogue::DEFAULT_MODEL;
use crate::outbound::model_download::DEFAULT_BASE_URL;
use crate::startup;
use crate::startup::model::DownloadOptions;

/// Persistent memory of phone callers for ElevenLabs voice agents.
///
/// Configuration comes from environment variables (and a .env file in the working directory);
/// see README.md for the list. Use --dev to run locally with no configuration at all.
#[derive(Debug, Parser)]
#[command(name = "caller-memory", version, about, long_about)]
pub struct Cli {
    /// Use the dev profile: embedded memory store, storage under ./.dev-data, public dev-only
    /// keys, loopback only. Never for production. Same as CALLER_MEMORY_PROFILE=dev.
    #[arg(long, global = true)]
    dev: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the webhook server (checks every backend first).
    Serve,
    /// Print the OpenAPI document of the HTTP API.
    Openapi {
        /// Output format.
        #[arg(long, value_enum, default_value_t = SpecFormat::Yaml)]
        format: SpecFormat,
    },
    /// Validate the configuration and reach every configured backend; exits non-zero on any
    /// problem.
    Check,
    /// Print an ElevenLabs-Signature header for a payload file, signed with the configured
    /// post-call key and the current time, to call the post-call webhook by hand.
    Sign {
        /// The exact file that will be sent as the request body.
        payload_file: PathBuf,
    },
    /// Learn again from archived transcriptions (one conversation, or --all). Memories already
    /// learnt are not added twice and each call is counted once; memories that earlier learning
    /// rules derived and the current rules do not are removed.
    Replay {
        /// The conversation to learn from again.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        conversation_id: Option<String>,
        /// Every archived transcription.
        #[arg(long)]
        all: bool,
    },
    /// Commands that use the ElevenLabs API (ELEVENLABS_API_KEY).
    Elevenlabs {
        #[command(subcommand)]
        command: ElevenLabsCommand,
    },
    /// Learn from past conversations (ElevenLabs' conversation history): each one not yet
    /// archived is archived as the post-call webhook would have delivered it, then learnt from.
    /// Resumes an interrupted run.
    Backfill {
        /// Only this agent's conversations.
        #[arg(long)]
        agent: Option<String>,
        /// Only conversations started on or after this date (2026-01-31, or an RFC 3339 time).
        #[arg(long)]
        since: Option<String>,
    },
    /// Download a sentence model into the data folder (PAYLOAD_STORAGE_PATH/models/), where the
    /// service finds it, or list the known models.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Erase everything held about a caller (profile, memories, archived calls), for good: a
    /// retried delivery or a replay does not bring it back. With the server running, this goes
    /// through its administration API (set ADMIN_API_KEY).
    Forget {
        /// The caller's number, with + (or 00) and the country code.
        phone: String,
    },
    /// Write everything held about a caller to one file: JSON, or a tar file (export.json and
    /// audio/*.mp3) with --audio.
    Export {
        /// The caller's number, with + (or 00) and the country code.
        phone: String,
        /// Include the call recordings (the file becomes a tar archive).
        #[arg(long)]
        audio: bool,
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Rebuild the caller -> conversations index from the archive (for calls archived before
    /// the index existed). Safe to run at any time.
    Reindex,
    /// Delete now what is older than its retention period (RETENTION_AUDIO_DAYS,
    /// RETENTION_TRANSCRIPT_DAYS, RETENTION_MEMORY_DAYS) and print what was removed. One run does
    /// at most RETENTION_SWEEP_BATCH conversations; run it again while it says "unfinished".
    /// With the server running, this goes through its administration API (set ADMIN_API_KEY).
    Sweep,
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Download a model's files (config.json, tokenizer.json, model.safetensors), each checked
    /// against its SHA-256; nothing is installed unless every file matches.
    Download {
        /// A known model (see `model list`), or any Hugging Face repository holding those files.
        #[arg(default_value = DEFAULT_MODEL.repository)]
        name: String,
        /// Where files are fetched from: {base-url}/{name}/resolve/{revision}/{file}.
        #[arg(long, default_value = DEFAULT_BASE_URL)]
        base_url: url::Url,
        /// The revision of a model that is not known [main]; a known model's is pinned.
        #[arg(long)]
        revision: Option<String>,
        /// The expected checksum of a file of a model that is not known (repeatable).
        #[arg(long = "sha256", value_name = "FILE=SHA256")]
        checksums: Vec<String>,
    },
    /// List the known models with their pinned revisions and checksums.
    List,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SpecFormat {
    Yaml,
    Json,
}

impl Cli {
    fn profile(&self) -> Profile {
        let from_environment = std::env::var("CALLER_MEMORY_PROFILE")
            .is_ok_and(|profile| profile.eq_ignore_ascii_case("dev"));
        if self.dev || from_environment {
            Profile::Dev
        } else {
            Profile::Standard
        }
    }
}

/// Parses the command line and runs the command.
pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    let profile = cli.profile();
    let outcome = match cli.command {
        Command::Openapi { format } => {
            print!(
                "{}",
                match format {
                    SpecFormat::Yaml => openapi_yaml(),
                    SpecFormat::Json => openapi_json(),
                }
            );
            Ok(())
        }
        Command::Serve => match load(profile) {
            Ok(settings) => startup::serve(settings).await,
            Err(error) => Err(error),
        },
        Command::Check => match load(profile) {
            Ok(settings) => startup::check(settings).await,
            Err(error) => Err(error),
        },
        Command::Replay {
            conversation_id,
            all,
        } => match (load(profile), replay_target(conversation_id, all)) {
            (Ok(settings), Ok(target)) => startup::replay(settings, target).await,
            (Err(error), _) | (_, Err(error)) => Err(error),
        },
        Command::Elevenlabs { command } => match load(profile) {
            Ok(settings) => commands::elevenlabs(settings, command).await,
            Err(error) => Err(error),
        },
        Command::Backfill { agent, since } => {
            match (
                load(profile),
                commands::backfill::filter(agent.as_deref(), since.as_deref()),
            ) {
                (Ok(settings), Ok(filter)) => commands::backfill::run(settings, filter).await,
                (Err(error), _) | (_, Err(error)) => Err(error),
            }
        }
        Command::Model {
            command: ModelCommand::List,
        } => {
            startup::model::list();
            Ok(())
        }
        Command::Model {
            command:
                ModelCommand::Download {
                    name,
                    base_url,
                    revision,
                    checksums,
                },
        } => match load(profile) {
            Ok(settings) => {
                let options = DownloadOptions {
                    name,
                    base_url,
                    revision,
                    checksums,
                };
                startup::model::download(&settings, options).await
            }
            Err(error) => Err(error),
        },
        Command::Forget { phone } => match load(profile) {
            Ok(settings) => startup::forget(settings, &phone).await,
            Err(error) => Err(error),
        },
        Command::Export { phone, audio, out } => match load(profile) {
            Ok(settings) => {
                let recordings = if audio {
                    Recordings::Included
                } else {
                    Recordings::Left
                };
                startup::export(settings, &phone, recordings, &out).await
            }
            Err(error) => Err(error),
        },
        Command::Reindex => match load(profile) {
            Ok(settings) => startup::reindex(settings).await,
            Err(error) => Err(error),
        },
        Command::Sweep => match load(profile) {
            Ok(settings) => startup::sweep(settings).await,
            Err(error) => Err(error),
        },
        Command::Sign { payload_file } => {
            load(profile).and_then(|settings| sign(&settings, &payload_file))
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(profile: Profile) -> anyhow::Result<Settings> {
    Settings::load(profile).map_err(|error: ConfigError| anyhow::anyhow!(error))
}

fn replay_target(conversation_id: Option<String>, all: bool) -> anyhow::Result<ReplayTarget> {
    match conversation_id {
        Some(raw) if !all => ConversationId::parse(&raw)
            .map(ReplayTarget::Conversation)
            .map_err(|error| anyhow::anyhow!("conversation id {raw:?}: {error}")),
        _ => Ok(ReplayTarget::All),
    }
}

fn sign(settings: &Settings, payload_file: &PathBuf) -> anyhow::Result<()> {
    let body = std::fs::read(payload_file).map_err(|error| {
        anyhow::anyhow!("{} could not be read: {error}", payload_file.display())
    })?;
    let now = chrono::Utc::now().timestamp();
    println!(
        "{}",
        signature::sign(settings.post_call_key.expose(), now, &body)
    );
    Ok(())
}
