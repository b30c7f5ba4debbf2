use std::sync::Arc;
use std::time::Duration;

use chrono::TimeZone;

use super::*;
use crate::core::ports::PutCondition;
use crate::test_doubles::{InMemoryBlobStore, ManualClock};

const LEASE: Duration = Duration::from_secs(30);

struct Shared {
    blobs: Arc<InMemoryBlobStore>,
    clock: Arc<ManualClock>,
}

impl Shared {
    fn new() -> Self {
        let start = chrono::Utc.with_ymd_and_hms(2026, 1, 16, 9, 0, 0).unwrap();
        Self {
            blobs: Arc::default(),
            clock: Arc::new(ManualClock::new(start)),
        }
    }

    /// Another instance over the same store and clock.
    fn instance(&self) -> Claims {
        self.instance_sharing(Sharing::Shared)
    }

    fn instance_sharing(&self, sharing: Sharing) -> Claims {
        Claims::new(
            InstanceId::generate(),
            LEASE,
            sharing,
            self.blobs.clone(),
            self.clock.clone(),
        )
    }

    fn pass(&self, time: Duration) {
        self.clock
            .advance(chrono::Duration::from_std(time).unwrap());
    }
}

fn conversation() -> ConversationId {
    ConversationId::parse("conv_claimed").unwrap()
}

#[tokio::test]
async fn a_held_claim_is_refused_to_others_until_released() {
    let shared = Shared::new();
    let (first, second) = (shared.instance(), shared.instance());

    let claim = first.claim(&conversation()).await.unwrap().expect("free");
    assert!(second.claim(&conversation()).await.unwrap().is_none());
    shared.pass(LEASE / 2);
    assert!(second.claim(&conversation()).await.unwrap().is_none());

    first.release(claim).await;
    assert!(second.claim(&conversation()).await.unwrap().is_some());
}

#[tokio::test]
async fn an_expired_claim_is_taken_over_and_its_holder_cannot_renew_it() {
    let shared = Shared::new();
    let (stalled, other) = (shared.instance(), shared.instance());
    let mut stale = stalled.claim(&conversation()).await.unwrap().unwrap();

    shared.pass(LEASE + Duration::from_secs(1));
    let taken = other.claim(&conversation()).await.unwrap();

    assert!(taken.is_some(), "an expired claim was not taken over");
    assert!(matches!(
        stalled.renew(&mut stale).await,
        Err(BlobStoreError::ConditionFailed)
    ));
    // Releasing the lost claim leaves the new holder's claim in place.
    stalled.release(stale).await;
    assert!(stalled.claim(&conversation()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_renewed_claim_outlives_its_first_lease() {
    let shared = Shared::new();
    let (holder, other) = (shared.instance(), shared.instance());
    let mut claim = holder.claim(&conversation()).await.unwrap().unwrap();

    shared.pass(LEASE * 2 / 3);
    holder.renew(&mut claim).await.unwrap();
    shared.pass(LEASE * 2 / 3);

    assert!(other.claim(&conversation()).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_many_instances_racing_for_a_free_conversation_exactly_one_wins() {
    for _ in 0..20 {
        let shared = Shared::new();
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let claims = shared.instance();
                tokio::spawn(async move { claims.claim(&conversation()).await.unwrap().is_some() })
            })
            .collect();
        let mut winners = 0;
        for racer in racers {
            winners += usize::from(racer.await.unwrap());
        }
        assert_eq!(winners, 1);
    }
}

#[tokio::test]
async fn an_unreadable_lease_protects_nothing() {
    let shared = Shared::new();
    let key = Folder::Claims.key(&conversation());
    shared
        .blobs
        .put(
            &key,
            bytes::Bytes::from_static(b"{\"own"),
            PutCondition::Overwrite,
        )
        .await
        .unwrap();

    assert!(shared
        .instance()
        .claim(&conversation())
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn the_sole_instance_takes_over_a_claim_left_by_a_process_that_ended() {
    let shared = Shared::new();
    let ended = shared.instance();
    let _left = ended.claim(&conversation()).await.unwrap().unwrap();

    let sole = shared.instance_sharing(Sharing::Exclusive);
    let claim = sole.claim(&conversation()).await.unwrap();

    assert!(claim.is_some(), "the sole instance waited for a dead claim");
    // Its own claim still keeps its other tasks off the conversation.
    assert!(sole.claim(&conversation()).await.unwrap().is_none());
}
