"""Section headings: ours, and what other postmortem templates call the same sections.

One table serves the linter (a postmortem in the SRE book's or PagerDuty's
template has its sections, just named differently) and the converter (which
renames a foreign heading to ours when it means exactly one of them). The
table is printed in docs/format.md; keep the two in step.
"""

from __future__ import annotations

import re

# Our sections, in order, each with the headings other templates use for it.
# Sources: the Google SRE book's example postmortem (Appendix D), PagerDuty's
# postmortem docs, Atlassian's incident postmortem template, Etsy morgue's
# fields, the "Issue Summary" style (Google API infrastructure outage report),
# and the headings of the real postmortems in tests/fixtures/foreign.
SECTIONS: dict[str, tuple[str, ...]] = {
    "Summary": (
        "summary", "executive summary", "issue summary", "incident summary", "overview",
        "tl;dr", "tldr", "description", "what happened", "problem overview", "leadup",
        "current status / tl;dr",
    ),
    "Impact": (
        "impact", "customer impact", "user impact", "what was impacted", "who was affected",
        "impact assessment", "fault", "scope",
    ),
    "Timeline": (
        "timeline", "timeline of events", "incident timeline", "chronology",
        "detailed timeline", "sequence of events",
    ),
    "Contributing factors": (
        "contributing factors", "contributing factor", "root cause", "root causes",
        "root cause analysis", "root cause and resolution", "root cause of the outage",
        "causes", "cause", "trigger", "why surprised", "how did this happen",
        "five whys", "5 whys", "what went wrong technically",
    ),
    "Detection": ("detection", "how was it detected", "how we noticed", "alerting"),
    "Response and recovery": (
        "response and recovery", "response", "recovery", "resolution",
        "resolution and recovery", "root cause and resolution", "mitigation", "mitigations",
        "remediation", "fix", "the fix", "actions taken", "what we did",
    ),
    "Lessons learned": (
        "lessons learned", "lessons learnt", "lessons", "learnings", "takeaways",
        "what went well", "what went wrong", "where we got lucky",
        "what went well and what didn't",
    ),
    "Action items": (
        "action items", "action item", "corrective and preventative measures",
        "corrective and preventive measures", "corrective actions", "preventive actions",
        "preventative measures", "follow-up actions", "follow up actions", "follow-ups",
        "followup actions", "next steps", "what we're doing about it", "going forward",
        "prevention", "action items and follow-up", "tasks", "remediation items",
    ),
}  # fmt: skip

_NUMBERING = re.compile(r"^(?:\d+(?:\.\d+)*[.)]?|[ivx]+[.)])\s+")
_FOOTNOTE = re.compile(r"\s*(?:\[\d+\]\(#\d+\)|\d+)\s*$")  # "Timeline167", "lucky [166](#166)"
_QUALIFIER = re.compile(r"\s*\((?:utc|all times utc|[a-z ]*time[s]?)\)\s*$")
_SPACE = re.compile(r"\s+")
_ALIASES: dict[str, tuple[str, ...]] = {}
for _name, _aliases in SECTIONS.items():
    for _alias in (_name.lower(), *_aliases):
        if _name not in _ALIASES.get(_alias, ()):
            _ALIASES[_alias] = (*_ALIASES.get(_alias, ()), _name)


def normalise(heading: str) -> str:
    """A heading reduced to what identifies it: 'Root Causes:164' -> 'root causes'."""
    text = heading.replace("*", "").replace("`", "").replace("’", "'").strip()
    text = _SPACE.sub(" ", text.lower())
    text = _NUMBERING.sub("", text)
    text = text.split(":", 1)[0].strip() if ":" in text else text
    text = _FOOTNOTE.sub("", text)
    return _QUALIFIER.sub("", text).strip(" .-")


def canonical(heading: str, *, exact: bool = False) -> tuple[str, ...]:
    """Our sections a heading stands for (none, one, or two for 'Root cause and resolution').

    Without `exact`, a heading that starts with a name counts too ("Timeline
    of the outage"): right for counting sections, too loose for renaming one.
    """
    key = normalise(heading)
    if key in _ALIASES:
        return _ALIASES[key]
    if exact:
        return ()
    for alias, names in _ALIASES.items():
        # "Timeline (all times in PST)", "Impact on customers", "Action items for Q3"
        if key.startswith(alias + " ") and len(alias) > 4:
            return names
    return ()
