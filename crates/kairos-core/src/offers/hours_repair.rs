//! A tolerant reading of `opening_hours`, the way OSM tools do it: a fixed table
//! of repairs of the mistakes mappers commonly make, tried only when the
//! `opening-hours` crate cannot read a value as written.
//!
//! The value is cut into tokens (words, numbers, spaces, punctuation, quoted
//! comments, which are never touched); each repair of the table rewrites the
//! tokens; the result is written back with `; ` between rules. A repair never
//! guesses: where two readings are possible (`9-5`, `12am`, a missing `;`
//! between rules whose days overlap) it answers [`Ambiguous`] and the value
//! stays unreadable.

use std::fmt;

/// A value repaired: the corrected text and the names of the repairs that changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired {
    /// The corrected value.
    pub text: String,
    /// What was repaired, in the order the repairs run.
    pub repairs: Vec<&'static str>,
}

/// Why a value has two possible readings, so no repair is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ambiguous(pub String);

impl fmt::Display for Ambiguous {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ambiguous: {}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Num(String),
    Space,
    Punct(char),
    Quoted(String),
}

type Pass = fn(&mut Vec<Tok>) -> Result<(), Ambiguous>;

/// The repairs, in the order they run: a name (as `check` reports it) and the pass.
const REPAIRS: &[(&str, Pass)] = &[
    ("en or em dash read as `-`", dashes),
    ("newline or `|` between rules read as `; `", rule_breaks),
    ("day name, `PH` or `off` spelled another way", day_names),
    ("`am`/`pm` time", am_pm),
    ("spaces around `-`, `,` or `:`", spaces_around_separators),
    ("missing space after the days", space_after_days),
    ("hours without minutes or one-digit hours", whole_hours),
    ("missing `; ` between rules", missing_rule_separator),
];

/// Day names read as the OSM two-letter days (compared without case): OSM's own
/// (any case), English abbreviations and names, German abbreviations. French is
/// left out on purpose: its `Di` (dimanche) is German `Di` (Dienstag).
const DAY_NAMES: &[(&str, &str)] = &[
    ("mo", "Mo"),
    ("tu", "Tu"),
    ("we", "We"),
    ("th", "Th"),
    ("fr", "Fr"),
    ("sa", "Sa"),
    ("su", "Su"),
    ("mon", "Mo"),
    ("tue", "Tu"),
    ("tues", "Tu"),
    ("wed", "We"),
    ("thu", "Th"),
    ("thur", "Th"),
    ("thurs", "Th"),
    ("fri", "Fr"),
    ("sat", "Sa"),
    ("sun", "Su"),
    ("monday", "Mo"),
    ("tuesday", "Tu"),
    ("wednesday", "We"),
    ("thursday", "Th"),
    ("friday", "Fr"),
    ("saturday", "Sa"),
    ("sunday", "Su"),
    ("di", "Tu"),
    ("mi", "We"),
    ("do", "Th"),
    ("so", "Su"),
];

/// OSM's days in order, for day sets.
const DAYS: [&str; 7] = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"];

/// The names of the repairs, in the order they run (for docs and messages).
pub fn repair_names() -> impl Iterator<Item = &'static str> {
    REPAIRS.iter().map(|(name, _)| *name)
}

/// The repaired value, `Ok(None)` when no repair changes anything, or why the
/// value has two readings. Run only on values the crate cannot read.
pub fn repair(expression: &str) -> Result<Option<Repaired>, Ambiguous> {
    let mut toks = tokens(expression);
    let mut repairs = Vec::new();
    for (name, pass) in REPAIRS {
        let before = toks.clone();
        pass(&mut toks)?;
        if toks != before {
            repairs.push(*name);
        }
    }
    let text = write(&toks);
    Ok((text != expression).then_some(Repaired { text, repairs }))
}

fn tokens(text: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = |first: char, keep: fn(&char) -> bool| {
            let mut s = String::from(first);
            while let Some(n) = chars.next_if(keep) {
                s.push(n);
            }
            s
        };
        let tok = match c {
            c if c.is_ascii_digit() => Tok::Num(run(c, char::is_ascii_digit)),
            c if c.is_alphabetic() => Tok::Word(run(c, |c| c.is_alphabetic())),
            ' ' | '\t' | '\u{a0}' => {
                run(c, |c| matches!(c, ' ' | '\t' | '\u{a0}'));
                Tok::Space
            }
            '"' => {
                let mut s = String::new();
                for n in chars.by_ref() {
                    if n == '"' {
                        break;
                    }
                    s.push(n);
                }
                Tok::Quoted(s)
            }
            c => Tok::Punct(c),
        };
        toks.push(tok);
    }
    toks
}

/// Writes tokens back: one `; ` between rules, single spaces, no empty rules.
fn write(toks: &[Tok]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < toks.len() {
        // A run of spaces and `;` holding at least one `;` is one rule break.
        let mut j = i;
        while j < toks.len() && matches!(toks[j], Tok::Space | Tok::Punct(';')) {
            j += 1;
        }
        if j > i {
            let breaks = toks[i..j].contains(&Tok::Punct(';'));
            if i > 0 && j < toks.len() {
                out.push_str(if breaks { "; " } else { " " });
            }
            i = j;
            continue;
        }
        match &toks[i] {
            Tok::Word(s) | Tok::Num(s) => out.push_str(s),
            Tok::Quoted(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            Tok::Punct(c) => out.push(*c),
            Tok::Space => unreachable!("spaces are written as runs above"),
        }
        i += 1;
    }
    out
}

#[allow(clippy::ptr_arg)] // every pass of the table has one signature
fn dashes(toks: &mut Vec<Tok>) -> Result<(), Ambiguous> {
    for t in toks.iter_mut() {
        if matches!(t, Tok::Punct('–' | '—' | '‒' | '―' | '−')) {
            *t = Tok::Punct('-');
        }
    }
    Ok(())
}

#[allow(clippy::ptr_arg)] // every pass of the table has one signature
fn rule_breaks(toks: &mut Vec<Tok>) -> Result<(), Ambiguous> {
    for i in 0..toks.len() {
        let single_bar = toks[i] == Tok::Punct('|')
            && (i == 0 || toks[i - 1] != Tok::Punct('|'))
            && toks.get(i + 1) != Some(&Tok::Punct('|'));
        if single_bar || matches!(toks[i], Tok::Punct('\n' | '\r')) {
            toks[i] = Tok::Punct(';');
        }
    }
    Ok(())
}

fn day_of(word: &str) -> Option<&'static str> {
    let lower = word.to_lowercase();
    DAY_NAMES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, day)| *day)
}

fn is_day_or_ph(t: &Tok) -> bool {
    matches!(t, Tok::Word(w) if DAYS.contains(&w.as_str()) || w == "PH")
}

#[allow(clippy::ptr_arg)] // every pass of the table has one signature
fn day_names(toks: &mut Vec<Tok>) -> Result<(), Ambiguous> {
    for t in toks.iter_mut() {
        if let Tok::Word(w) = t {
            let fixed = match w.to_lowercase().as_str() {
                "ph" => Some("PH"),
                "off" => Some("off"),
                _ => day_of(w),
            };
            if let Some(fixed) = fixed {
                *w = fixed.to_string();
            }
        }
    }
    Ok(())
}

fn num(t: Option<&Tok>) -> Option<u32> {
    match t {
        Some(Tok::Num(s)) if s.len() <= 2 => s.parse().ok(),
        _ => None,
    }
}

/// `11am`, `2:30 pm`, `9 a.m.`: 24-hour times. `12am` and `12pm` are read both
/// ways by people, so they are ambiguous; an hour past 12 with `am`/`pm` is no time.
fn am_pm(toks: &mut Vec<Tok>) -> Result<(), Ambiguous> {
    let mut i = 0;
    while i < toks.len() {
        let Some(hour) = num(toks.get(i)) else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        let mut minutes = "00".to_string();
        if toks.get(j) == Some(&Tok::Punct(':')) {
            if let Some(Tok::Num(m)) = toks.get(j + 1) {
                minutes = m.clone();
                j += 2;
            }
        }
        if toks.get(j) == Some(&Tok::Space) {
            j += 1;
        }
        let Some((after_noon, end)) = meridiem(toks, j) else {
            i += 1;
            continue;
        };
        let hour = match (hour, after_noon) {
            (12, _) => {
                return Err(Ambiguous(
                    "`12am` and `12pm` are read both as noon and as midnight".into(),
                ))
            }
            (1..=11, false) => hour,
            (1..=11, true) => hour + 12,
            _ => return Err(Ambiguous(format!("{hour} with am/pm is no time"))),
        };
        let time = [
            Tok::Num(format!("{hour:02}")),
            Tok::Punct(':'),
            Tok::Num(minutes),
        ];
        toks.splice(i..end, time);
        i += 3;
    }
    Ok(())
}

/// `am`, `pm`, `a.m.`, `p.m.` at `j`: after noon or not, and the index past it.
fn meridiem(toks: &[Tok], j: usize) -> Option<(bool, usize)> {
    let Some(Tok::Word(w)) = toks.get(j) else {
        return None;
    };
    match w.to_lowercase().as_str() {
        "am" => Some((false, j + 1)),
        "pm" => Some((true, j + 1)),
        a @ ("a" | "p") => {
            let dotted = toks.get(j + 1) == Some(&Tok::Punct('.'))
                && matches!(toks.get(j + 2), Some(Tok::Word(m)) if m.eq_ignore_ascii_case("m"));
            if !dotted {
                return None;
            }
            let end = if toks.get(j + 3) == Some(&Tok::Punct('.')) {
                j + 4
            } else {
                j + 3
            };
            Some((a == "p", end))
        }
        _ => None,
    }
}

/// Removes spaces around `-` and `:`, before `,`, and after `,` in a list of
/// days (`Mo, We`); any other `, ` may be OSM's separator of additional rules
/// (`Mo 08:00-12:00, We 14:00-18:00`, `…, 14:00-18:00` every day), and stays.
fn spaces_around_separators(toks: &mut Vec<Tok>) -> Result<(), Ambiguous> {
    let mut out: Vec<Tok> = Vec::with_capacity(toks.len());
    for i in 0..toks.len() {
        if toks[i] == Tok::Space {
            let prev = out.last();
            let next = toks.get(i + 1);
            let around = |t: Option<&Tok>| matches!(t, Some(Tok::Punct('-' | ':')));
            let list = prev == Some(&Tok::Punct(','))
                && out.len() >= 2
                && is_day_or_ph(&out[out.len() - 2])
                && next.is_some_and(is_day_or_ph);
            if around(prev) || around(next) || next == Some(&Tok::Punct(',')) || list {
                continue;
            }
        }
        out.push(toks[i].clone());
    }
    *toks = out;
    Ok(())
}

fn space_after_days(toks: &mut Vec<Tok>) -> Result<(), Ambiguous> {
    let mut i = 1;
    while i < toks.len() {
        if matches!(toks[i], Tok::Num(_)) && is_day_or_ph(&toks[i - 1]) {
            toks.insert(i, Tok::Space);
        }
        i += 1;
    }
    Ok(())
}

/// A time as written at `i`: the hour, the minutes if written, the index past it.
fn time_at(toks: &[Tok], i: usize) -> Option<(u32, Option<String>, usize)> {
    let hour = num(toks.get(i))?;
    if toks.get(i + 1) == Some(&Tok::Punct(':')) {
        return match toks.get(i + 2) {
            Some(Tok::Num(m)) if m.len() == 2 => Some((hour, Some(m.clone()), i + 3)),
            _ => None,
        };
    }
    Some((hour, None, i + 1))
}

/// True when a time range may start at `i`: after the days, a rule break, or a
/// `,` in a list of times (not after a month or `week`).
fn starts_times(toks: &[Tok], i: usize) -> bool {
    let mut k = i;
    while k > 0 && toks[k - 1] == Tok::Space {
        k -= 1;
    }
    if k == 0 {
        return true;
    }
    match &toks[k - 1] {
        Tok::Punct(';') => true,
        Tok::Punct(',') => matches!(toks.get(k.wrapping_sub(2)), Some(Tok::Num(_))),
        t => is_day_or_ph(t),
    }
}

/// `08-18` → `08:00-18:00`, `9:30-18` → `09:30-18:00`; a range of whole hours
/// that ends before it starts, both at most 12 (`9-5`), could be either half of
/// the day and is ambiguous.
fn whole_hours(toks: &mut Vec<Tok>) -> Result<(), Ambiguous> {
    let mut i = 0;
    while i < toks.len() {
        let range = (starts_times(toks, i))
            .then(|| time_at(toks, i))
            .flatten()
            .filter(|(_, _, dash)| toks.get(*dash) == Some(&Tok::Punct('-')))
            .and_then(|start| Some((start.clone(), time_at(toks, start.2 + 1)?)));
        let Some(((h1, m1, _), (h2, m2, end))) = range else {
            i += 1;
            continue;
        };
        if h1 > 24 || h2 > 48 {
            i = end;
            continue;
        }
        let whole = m1.is_none() || m2.is_none();
        if whole && h2 < h1 && (1..=12).contains(&h2) && h1 <= 12 {
            return Err(Ambiguous(format!(
                "`{h1}-{h2}` could be in the morning or the afternoon"
            )));
        }
        let side = |h: u32, m: Option<String>| {
            [
                Tok::Num(format!("{h:02}")),
                Tok::Punct(':'),
                Tok::Num(m.unwrap_or_else(|| "00".into())),
            ]
        };
        let mut fixed = side(h1, m1).to_vec();
        fixed.push(Tok::Punct('-'));
        fixed.extend(side(h2, m2));
        let len = fixed.len();
        toks.splice(i..end, fixed);
        i += len;
    }
    Ok(())
}

/// The days a rule's selector names (bit per day; bit 7 is `PH`); no days
/// named means every day.
fn days_named(rule: &[Tok]) -> u8 {
    let mut set = 0u8;
    let index = |t: &Tok| match t {
        Tok::Word(w) if w == "PH" => Some(7),
        Tok::Word(w) => DAYS.iter().position(|d| d == w),
        _ => None,
    };
    let mut k = 0;
    while let Some(a) = rule.get(k).and_then(index) {
        let mut b = a;
        if rule.get(k + 1) == Some(&Tok::Punct('-')) {
            if let Some(e) = rule.get(k + 2).and_then(index) {
                b = e;
                k += 2;
            }
        }
        if a == 7 || b == 7 {
            set |= 1 << 7;
        } else {
            let mut d = a;
            loop {
                set |= 1 << d;
                if d == b {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        k += 1;
        if rule.get(k) == Some(&Tok::Punct(',')) {
            k += 1;
        }
    }
    if set == 0 {
        0xff
    } else {
        set
    }
}

/// `Mo-Fr 08:00-19:00 Sa 09:00-19:00` → `…; Sa …`. A rule after `;` overrides
/// the days before it, one after `, ` adds to them: when the days overlap (a
/// public holiday falls on any day) the two readings differ, so it is ambiguous
/// unless the later rule is `off`.
#[allow(clippy::ptr_arg)] // every pass of the table has one signature
fn missing_rule_separator(toks: &mut Vec<Tok>) -> Result<(), Ambiguous> {
    let mut rule_start = 0;
    let mut i = 0;
    while i < toks.len() {
        if toks[i] == Tok::Punct(';') {
            rule_start = i + 1;
        }
        let after_time = i >= 2
            && toks[i] == Tok::Space
            && (matches!(toks[i - 1], Tok::Num(_)) && toks[i - 2] == Tok::Punct(':')
                || toks[i - 1] == Tok::Punct('+'));
        if after_time && toks.get(i + 1).is_some_and(is_day_or_ph) {
            let before = days_named(trim_start(&toks[rule_start..i]));
            let next_end = toks[i + 1..]
                .iter()
                .position(|t| *t == Tok::Punct(';'))
                .map_or(toks.len(), |p| i + 1 + p);
            let next = &toks[i + 1..next_end];
            let closes = next.contains(&Tok::Word("off".into()));
            let mut after = days_named(next);
            if after & 0x80 != 0 && !closes {
                after = 0xff;
            }
            if before & after != 0 && !closes {
                return Err(Ambiguous(
                    "rules without `;` between them name the same days".into(),
                ));
            }
            toks[i] = Tok::Punct(';');
            rule_start = i + 1;
        }
        i += 1;
    }
    Ok(())
}

fn trim_start(toks: &[Tok]) -> &[Tok] {
    let skip = toks.iter().take_while(|t| **t == Tok::Space).count();
    &toks[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(text: &str) -> String {
        repair(text)
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
            .map_or_else(|| text.to_string(), |r| r.text)
    }

    #[test]
    fn text_round_trips_through_tokens() {
        for text in [
            "Mo-Fr 08:00-18:00; Sa 10:00-12:00",
            "Mo-Fr 08:00-18:00 || \"by appointment\"",
            "Dec 24-26 off",
        ] {
            assert_eq!(write(&tokens(text)), text);
        }
    }

    #[test]
    fn each_repair_names_itself() {
        let r = repair("Mo - Fr 09:00 - 18:00").unwrap().unwrap();
        assert_eq!(r.text, "Mo-Fr 09:00-18:00");
        assert_eq!(r.repairs, vec!["spaces around `-`, `,` or `:`"]);
    }

    #[test]
    fn the_day_sets_of_a_selector() {
        assert_eq!(days_named(&tokens("Mo-Fr 08:00")), 0b0001_1111);
        assert_eq!(days_named(&tokens("Fr-Mo 08:00")), 0b0111_0001);
        assert_eq!(days_named(&tokens("Sa,Su 08:00")), 0b0110_0000);
        assert_eq!(days_named(&tokens("08:00-12:00")), 0xff);
    }

    #[test]
    fn quoted_comments_are_never_touched() {
        assert_eq!(
            fixed("Mo - Fr 09:00-18:00; \"Mo - Fr 9-5\""),
            "Mo-Fr 09:00-18:00; \"Mo - Fr 9-5\""
        );
    }
}
