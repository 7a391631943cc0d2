//! The `explain` code in the report: an [`Explainer`] that asks
//! [`Engine::explain`](crate::engine::Engine::explain) (the decision's own rule
//! code) about each suggestion at the moment it was made, and about each device
//! once a minute of trace time along the drive, to tell the merchants near the
//! drive apart: *eligible* when some explanation found one eligible, else *not
//! eligible* with the rule that ruled it out last.

use std::collections::HashMap;

use crate::engine::Engine;
use crate::explain::{Explanation as Explained, Verdict as Said};
use crate::input::{Event, Input};
use crate::offers::Merchant;
use crate::output::Suggestion;
use crate::trace::TraceEvent;

use super::model::{Candidate, Explanation, MerchantStatus, Verdict};
use super::recorder::{Explainer, NOT_CHOSEN};

/// Candidates asked about per explanation (SPEC's default `--limit`).
pub const LIMIT: usize = 20;
/// A device's drive is explained at most once per this many seconds of trace time.
pub const EVERY_S: i64 = 60;

/// Explanations from the engine (see the module doc).
#[derive(Debug, Default)]
pub struct EngineExplainer {
    /// The device of the input being stepped.
    device: Option<String>,
    /// When each device's drive was last explained (trace time, seconds).
    last: HashMap<String, i64>,
    /// Merchant id → what the explanations said of it.
    statuses: HashMap<String, MerchantStatus>,
}

impl EngineExplainer {
    /// An explainer that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn note(&mut self, explained: &Explained) {
        for c in &explained.candidates {
            let status = match &c.verdict {
                Said::RuledOut(rule) => MerchantStatus::NotEligible(rule.code().to_string()),
                Said::Wins { .. } | Said::Outranked { .. } => MerchantStatus::Eligible,
            };
            let entry = self
                .statuses
                .entry(c.merchant.clone())
                .or_insert(status.clone());
            if *entry != MerchantStatus::Eligible {
                *entry = status;
            }
        }
    }
}

impl Explainer for EngineExplainer {
    fn before(&mut self, engine: &Engine, event: &TraceEvent<'_>, input: &Input) {
        self.device = input.device().map(str::to_string);
        // Along the drive: once a minute per device, before its position is stepped.
        let (
            Some(device),
            Input::Event {
                event: Event::Position(_),
                ..
            },
        ) = (&self.device, input)
        else {
            return;
        };
        let now = event.at.time.timestamp();
        if self.last.get(device).is_some_and(|&t| now - t < EVERY_S) {
            return;
        }
        self.last.insert(device.clone(), now);
        let explained = engine.explain(device, &event.at, LIMIT);
        self.note(&explained);
    }

    fn explain(
        &mut self,
        engine: &Engine,
        event: &TraceEvent<'_>,
        _suggestion: &Suggestion,
    ) -> Option<Explanation> {
        let device = self.device.clone()?;
        let explained = engine.explain(&device, &event.at, LIMIT);
        self.note(&explained);
        Some(Explanation {
            candidates: explained
                .candidates
                .iter()
                .map(|c| Candidate {
                    merchant_id: c.merchant.clone(),
                    merchant_name: c.name.clone(),
                    offer_id: c.offer.clone(),
                    distance_m: c.straight_m,
                    verdict: match &c.verdict {
                        Said::RuledOut(rule) => Verdict::RuledOut(rule.code().to_string()),
                        Said::Wins { score } => Verdict::Wins { score: *score },
                        Said::Outranked { .. } => Verdict::RuledOut("outranked".to_string()),
                    },
                })
                .collect(),
        })
    }

    fn status(&self, merchant: &Merchant) -> MerchantStatus {
        self.statuses
            .get(&*merchant.id)
            .cloned()
            .unwrap_or_else(|| MerchantStatus::NotEligible(NOT_CHOSEN.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::catalog::Catalog;
    use crate::config::Config;
    use crate::offers::Loader;
    use crate::replay::replay_observed;
    use crate::report::{from_replay, Recorder};

    #[test]
    fn the_demo_suggestion_is_explained_by_the_decision_and_the_others_get_a_rule() {
        let mut loader = Loader::new();
        loader
            .load_text(
                Path::new("offers.geojson"),
                include_str!("../../data/demo/offers.geojson"),
            )
            .unwrap();
        let catalog = Arc::new(Catalog::new(loader.finish().0));
        let mut engine = Engine::new(Config::default().engine, catalog.clone());
        let mut recorder = Recorder::new(EngineExplainer::new());
        let drive = include_str!("../../data/demo/drive.jsonl");
        replay_observed(
            &mut engine,
            drive.as_bytes(),
            &mut Vec::new(),
            &mut Vec::new(),
            &mut recorder,
        )
        .unwrap();
        let report = from_replay("demo", &catalog, recorder);
        let explanation = report.suggestions[0]
            .explanation
            .as_ref()
            .expect("explained");
        let winner: Vec<_> = explanation
            .candidates
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Wins { .. }))
            .collect();
        assert_eq!(winner.len(), 1);
        assert_eq!(winner[0].merchant_id, report.suggestions[0].merchant_id);
        assert!(
            explanation.candidates.len() > 1,
            "the others are listed too"
        );
        let pizzeria = report
            .merchants
            .iter()
            .find(|m| m.id == "pizzeria-du-lac")
            .unwrap();
        assert!(
            matches!(&pizzeria.status, MerchantStatus::NotEligible(rule) if rule != NOT_CHOSEN),
            "{:?}",
            pizzeria.status
        );
    }
}
