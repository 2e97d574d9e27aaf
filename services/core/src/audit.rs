//! Audit events: who did what to which object, when, and with which request. Every
//! control-plane write is stored together with its event in one transaction, so a change
//! without its event (or an event without its change) cannot exist. Events never contain a
//! secret: targets are ids, never values.

use crate::time::UnixMillis;

/// Who is acting: a key id (or `cli` / `system`), and the request it came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `key_…` of the authenticated key, `operator:key_…`, `cli` or `system`.
    pub id: String,
    /// The request id, when there is one.
    pub request_id: Option<String>,
}

impl Actor {
    /// The command line (an operator at the host).
    pub fn cli() -> Self {
        Self {
            id: "cli".to_owned(),
            request_id: None,
        }
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// `evt_` and a time-sortable UUIDv7.
    pub id: String,
    /// When it happened.
    pub at: UnixMillis,
    /// Who acted.
    pub actor: String,
    /// What was done, e.g. `provider.create`.
    pub action: String,
    /// The object acted on (an id, never a secret).
    pub target: Option<String>,
    /// `success`.
    pub outcome: String,
    /// The request it came with.
    pub request_id: Option<String>,
}

impl AuditEvent {
    /// A successful action by `actor` on `target`.
    pub fn success(actor: &Actor, action: &str, target: impl Into<Option<String>>) -> Self {
        Self {
            id: crate::ids::new_prefixed("evt"),
            at: UnixMillis::now(),
            actor: actor.id.clone(),
            action: action.to_owned(),
            target: target.into(),
            outcome: "success".to_owned(),
            request_id: actor.request_id.clone(),
        }
    }
}

/// Which events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<String>,
    /// At or after.
    pub since: Option<UnixMillis>,
    /// Before.
    pub until: Option<UnixMillis>,
}

/// An audit event's fields, borrowed (from an [`AuditEvent`] or from [`PackedAudits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditEventRef<'a> {
    /// `evt_` and a time-sortable UUIDv7.
    pub id: &'a str,
    /// When it happened.
    pub at: UnixMillis,
    /// Who acted.
    pub actor: &'a str,
    /// What was done.
    pub action: &'a str,
    /// The object acted on.
    pub target: Option<&'a str>,
    /// `success`.
    pub outcome: &'a str,
    /// The request it came with.
    pub request_id: Option<&'a str>,
}

impl AuditEvent {
    /// The event's fields, borrowed.
    pub fn borrowed(&self) -> AuditEventRef<'_> {
        AuditEventRef {
            id: &self.id,
            at: self.at,
            actor: &self.actor,
            action: &self.action,
            target: self.target.as_deref(),
            outcome: &self.outcome,
            request_id: self.request_id.as_deref(),
        }
    }
}

/// Audit events with their tenants, packed for the audit pipeline: every event's strings in
/// one text, and a small fixed-size entry an event pointing into it. Both buffers are reused
/// from one flush to the next, so queueing an event allocates nothing that outlives its
/// request. (Queued as [`AuditEvent`]s, each event's six strings were allocated by a runtime
/// worker and freed by the audit thread: tens of thousands of frees a flush emptied the
/// workers' allocator pages, each handed back to the operating system with a TLB shootdown of
/// the other core — docs/benchmarks.md.)
#[derive(Debug, Default)]
pub struct PackedAudits {
    text: String,
    events: Vec<Packed>,
}

/// One event of [`PackedAudits`]: its tenant, its time, and where its strings end in the
/// text (each starts where the one before ends; the first at `start`).
#[derive(Debug, Clone, Copy)]
struct Packed {
    tenant: crate::TenantId,
    at: UnixMillis,
    start: u32,
    /// The ends of id, actor, action, target, outcome and request id.
    ends: [u32; 6],
    /// Whether the target and the request id are there (bits 0 and 1).
    present: u8,
}

/// An event that did not fit: [`PackedAudits`] holds at most 4 GiB of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedFull;

impl PackedAudits {
    /// Room for `events` events of about `bytes` bytes of text each.
    pub fn with_capacity(events: usize, bytes: usize) -> Self {
        Self {
            text: String::with_capacity(events.saturating_mul(bytes)),
            events: Vec::with_capacity(events),
        }
    }

    /// How many events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Forgets every event, keeping the room.
    pub fn clear(&mut self) {
        self.text.clear();
        self.events.clear();
    }

    /// The room, in events and in bytes of text.
    pub fn capacity(&self) -> (usize, usize) {
        (self.events.capacity(), self.text.capacity())
    }

    /// Adds `event` of `tenant` (copying its strings), or leaves everything as it was when the
    /// text would pass 4 GiB.
    pub fn push(
        &mut self,
        tenant: crate::TenantId,
        event: AuditEventRef<'_>,
    ) -> Result<(), PackedFull> {
        let start = self.text.len();
        let mut ends = [0u32; 6];
        let fields = [
            Some(event.id),
            Some(event.actor),
            Some(event.action),
            event.target,
            Some(event.outcome),
            event.request_id,
        ];
        for (end, field) in ends.iter_mut().zip(fields) {
            self.text.push_str(field.unwrap_or_default());
            match u32::try_from(self.text.len()) {
                Ok(e) => *end = e,
                Err(_) => {
                    self.text.truncate(start);
                    return Err(PackedFull);
                }
            }
        }
        let Ok(start) = u32::try_from(start) else {
            self.text.truncate(start);
            return Err(PackedFull);
        };
        self.events.push(Packed {
            tenant,
            at: event.at,
            start,
            ends,
            present: u8::from(event.target.is_some()) | (u8::from(event.request_id.is_some()) << 1),
        });
        Ok(())
    }

    /// The `i`th event's tenant.
    pub fn tenant(&self, i: usize) -> Option<crate::TenantId> {
        self.events.get(i).map(|p| p.tenant)
    }

    /// The `i`th event.
    pub fn get(&self, i: usize) -> Option<AuditEventRef<'_>> {
        let p = self.events.get(i)?;
        let field = |k: usize| {
            let from = if k == 0 { p.start } else { p.ends[k - 1] };
            self.text
                .get(from as usize..p.ends[k] as usize)
                .unwrap_or_default()
        };
        Some(AuditEventRef {
            id: field(0),
            at: p.at,
            actor: field(1),
            action: field(2),
            target: (p.present & 1 != 0).then(|| field(3)),
            outcome: field(4),
            request_id: (p.present & 2 != 0).then(|| field(5)),
        })
    }

    /// Every event with its tenant, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = (crate::TenantId, AuditEventRef<'_>)> {
        (0..self.len()).filter_map(|i| Some((self.tenant(i)?, self.get(i)?)))
    }

    /// Moves the first `n` events (all of them, if there are fewer) to the end of `into`; if
    /// they do not fit there, nothing moves.
    pub fn move_front(&mut self, n: usize, into: &mut PackedAudits) -> Result<(), PackedFull> {
        let n = n.min(self.len());
        let cut = self
            .events
            .get(n)
            .map_or(self.text.len(), |p| p.start as usize);
        let shift = u32::try_from(cut).map_err(|_| PackedFull)?;
        let (had_events, had_text) = (into.events.len(), into.text.len());
        for (t, e) in self.iter().take(n) {
            if let Err(full) = into.push(t, e) {
                into.events.truncate(had_events);
                into.text.truncate(had_text);
                return Err(full);
            }
        }
        self.text.drain(..cut);
        self.events.drain(..n);
        // Every later event's strings start at or after the cut.
        for p in &mut self.events {
            p.start = p.start.saturating_sub(shift);
            for e in &mut p.ends {
                *e = e.saturating_sub(shift);
            }
        }
        Ok(())
    }

    /// `events` packed (for tests and tools).
    pub fn of(events: &[(crate::TenantId, AuditEvent)]) -> Result<Self, PackedFull> {
        let mut packed = Self::default();
        for (tenant, e) in events {
            packed.push(*tenant, e.borrowed())?;
        }
        Ok(packed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::TenantId;
    use proptest::prelude::*;

    fn event(n: u32, target: Option<&str>, request_id: Option<&str>) -> AuditEvent {
        AuditEvent {
            id: format!("evt_{n}"),
            at: UnixMillis(1_000 + i64::from(n)),
            actor: format!("key_{n}"),
            action: "token.release".to_owned(),
            target: target.map(str::to_owned),
            outcome: "success".to_owned(),
            request_id: request_id.map(str::to_owned),
        }
    }

    /// What `packed` holds, owned.
    fn unpacked(packed: &PackedAudits) -> Vec<(TenantId, AuditEvent)> {
        packed
            .iter()
            .map(|(t, e)| {
                let owned = AuditEvent {
                    id: e.id.to_owned(),
                    at: e.at,
                    actor: e.actor.to_owned(),
                    action: e.action.to_owned(),
                    target: e.target.map(str::to_owned),
                    outcome: e.outcome.to_owned(),
                    request_id: e.request_id.map(str::to_owned),
                };
                (t, owned)
            })
            .collect()
    }

    #[test]
    fn absent_and_empty_fields_stay_apart() {
        let (a, b) = (TenantId::generate(), TenantId::generate());
        let events = vec![
            (a, event(1, None, None)),
            (b, event(2, Some(""), Some(""))),
            (a, event(3, Some("grt_1"), None)),
            (b, event(4, None, Some("req_4"))),
        ];
        let packed = PackedAudits::of(&events).unwrap();
        assert_eq!(packed.len(), 4);
        assert_eq!(unpacked(&packed), events);
        assert_eq!(packed.get(4), None);
        assert_eq!(packed.tenant(4), None);
    }

    #[test]
    fn moving_the_front_keeps_both_sides_whole() {
        let t = TenantId::generate();
        let events: Vec<_> = (0..5)
            .map(|n| (t, event(n, Some(&format!("grt_{n}")), Some("req"))))
            .collect();
        let mut queue = PackedAudits::of(&events).unwrap();
        let mut batch = PackedAudits::default();
        queue.move_front(2, &mut batch).unwrap();
        assert_eq!(unpacked(&batch), events[..2]);
        assert_eq!(unpacked(&queue), events[2..]);
        // Pushed after a move, an event lands after the ones left.
        queue.push(t, events[0].1.borrowed()).unwrap();
        assert_eq!(queue.get(3).unwrap(), events[0].1.borrowed());
        // More than there are: all of them, after what `batch` had.
        queue.move_front(10, &mut batch).unwrap();
        assert!(queue.is_empty());
        assert_eq!(batch.len(), 6);
        assert_eq!(unpacked(&batch)[2..5], events[2..]);
        batch.clear();
        assert!(batch.is_empty());
        assert!(batch.capacity().1 > 0, "the room is kept");
    }

    proptest! {
        #[test]
        fn packing_round_trips(
            fields in proptest::collection::vec(
                ("\\PC{0,12}", "\\PC{0,12}", proptest::option::of("\\PC{0,12}"), proptest::option::of("\\PC{0,12}"), any::<i64>(), any::<bool>()),
                0..20,
            ),
            front in 0usize..25,
        ) {
            let tenants = [TenantId::generate(), TenantId::generate()];
            let events: Vec<_> = fields
                .into_iter()
                .map(|(id, actor, target, request_id, at, second)| {
                    let e = AuditEvent {
                        id,
                        at: UnixMillis(at),
                        actor,
                        action: "a".to_owned(),
                        target,
                        outcome: "success".to_owned(),
                        request_id,
                    };
                    (tenants[usize::from(second)], e)
                })
                .collect();
            let mut packed = PackedAudits::of(&events).unwrap();
            prop_assert_eq!(&unpacked(&packed), &events);
            let mut moved = PackedAudits::default();
            packed.move_front(front, &mut moved).unwrap();
            let cut = front.min(events.len());
            prop_assert_eq!(unpacked(&moved), events[..cut].to_vec());
            prop_assert_eq!(unpacked(&packed), events[cut..].to_vec());
        }
    }
}
