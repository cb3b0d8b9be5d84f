"""Preview (every role): type a prompt and see what the served models make of it and the playlist
the ranker builds, with reasons; refine it, set the context, like, skip or save tracks, compare
two ranker configurations or intent model versions side by side, and report an output to the
safety triage queue.

Every list shown is logged as an impression (with feedback), and each new prompt joins the
labeling pool of the intent and safety tasks that collect preview prompts (redacted, the user
pseudonymised).
"""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd
import streamlit as st

from app import auth, resources
from app.components.preview_view import feature_bars, marked_slots, timings_chart
from app.components.untrusted import as_markdown, show_prompt
from app.errors import SERVICE_ERRORS, describe
from labeling.lifecycle.registry import list_versions
from labeling.privacy.linking import preview_end_user_id
from labeling.project.authz import Capability
from routing import preview
from routing import session as sessions
from routing.context import DEVICES
from routing.profiles import TIMES_OF_DAY
from routing.promotion import BY_INTENT, preview_default
from routing.ranker import CONFIGS
from routing.router import Router, RouteResult, default_intent_task

STATE, RESULTS, SESSION_ID, NOTICE = ("preview_state", "preview_results", "preview_session_id",
                                      "preview_notice")
NOT_COLLECTED = "preview_not_collected"
NOT_SET, NOTHING = "not set", "nothing"
CHIPS = [r for r in sessions.REFINEMENTS if "track N" not in r]
VERDICT_ICONS = {"allow": ":material/check_circle:", "review": ":material/visibility:",
                 "block": ":material/block:"}
ABSTAIN_TEXT = {"out_of_scope": "out of scope: below the task's confidence threshold",
                "ambiguous": "ambiguous: the top two intents are too close"}


def _session_id() -> str:
    if SESSION_ID not in st.session_state:
        st.session_state[SESSION_ID] = uuid.uuid4().hex
    return st.session_state[SESSION_ID]


# --- inputs ------------------------------------------------------------------------------------

def _prompt_form() -> None:
    with st.form("preview_form", border=False):
        left, right = st.columns([5, 1], vertical_alignment="bottom")
        prompt = left.text_input("Prompt", key="preview_prompt",
                                 placeholder="chill 90s hip hop for a late-night drive")
        routed = right.form_submit_button("Route", type="primary", icon=":material/send:")
    if routed:
        state: sessions.SessionState | None = st.session_state.get(STATE)
        st.session_state[STATE] = sessions.start(
            prompt, time_of_day=state.time_of_day if state else None,
            device=state.device if state else None)
        st.session_state.pop(RESULTS, None)
        st.session_state["preview_new_prompt"] = True


def _controls(intent_task: str | None, user: auth.SignedIn) -> dict[str, Any]:
    """Context and configuration controls; A/B's second side."""
    state: sessions.SessionState | None = st.session_state.get(STATE)
    cols = st.columns(4)
    time_of_day = _unset(cols[0].selectbox("Time of day", [NOT_SET, *TIMES_OF_DAY],
                                           key="preview_time"))
    device = _unset(cols[1].selectbox("Device", [NOT_SET, *DEVICES], key="preview_device"))
    options = [BY_INTENT, *CONFIGS]
    default = preview_default(engine=resources.engine(), actor=user)
    config = cols[2].selectbox("Ranker", options, key="preview_config",
                               index=options.index(default) if default in options else 0,
                               format_func=lambda o: f"{o} (default)" if o == default else o,
                               help="The ranker configuration (by intent: discovery prompts "
                                    "get the discovery configuration). The default is the one "
                                    "a lead promoted on the Experiments page.")
    compare = cols[3].selectbox("Compare with (A/B)", _compare_options(intent_task, user),
                                key="preview_compare", format_func=_compare_label)
    if state is not None and (state.time_of_day, state.device) != (time_of_day, device):
        st.session_state[STATE] = sessions.with_context(state, time_of_day=time_of_day,
                                                        device=device)
    return {"config": None if config == BY_INTENT else config,
            "compare": None if compare[0] == NOTHING else compare}


def _unset(value: str) -> str | None:
    return None if value == NOT_SET else value


def _compare_options(intent_task: str | None, user: auth.SignedIn) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [(NOTHING, None)]
    options += [("config", name) for name in CONFIGS]
    if intent_task is not None:
        try:
            versions = list_versions(engine=resources.engine(), actor=user,
                                     task_name=intent_task)
        except SERVICE_ERRORS:
            versions = []
        options += [("intent", v.version) for v in versions if not v.serving]
    return options


def _compare_label(option: tuple[str, Any]) -> str:
    kind, value = option
    if kind == NOTHING:
        return NOTHING
    return f"ranker: {value}" if kind == "config" else f"intent model v{value}"


# --- routing -----------------------------------------------------------------------------------

def _route(router: Router, state: sessions.SessionState, config: str | None) -> RouteResult:
    return router.route(state.prompt, config=CONFIGS[config] if config else None,
                        exploration=resources.settings().exploration,
                        **state.route_arguments())


def _collect(result: RouteResult, user: auth.SignedIn) -> None:
    """The prompt joins the collecting tasks' pools; without a secret key it is not collected
    (the list is still shown) and the notice says why."""
    try:
        added = preview.collect_prompt(engine=resources.engine(), encoder=resources.encoder(),
                                       actor=user, result=result,
                                       end_user_id=preview_end_user_id(user.id),
                                       pseudonym_key=resources.settings().require_secret_key())
    except SERVICE_ERRORS as exc:
        st.session_state[NOT_COLLECTED] = f"Not added to the labeling pool: {describe(exc)}."
        return
    if added:
        st.session_state[NOTICE] = ("Added to the labeling pool of " + ", ".join(added)
                                    + " (redacted).")


def _results(state: sessions.SessionState, options: dict[str, Any], user: auth.SignedIn
             ) -> dict[str, Any]:
    """Side A (and B), computed once per state and options; each list shown is logged."""
    key = (state, options["config"], options["compare"])
    cached = st.session_state.get(RESULTS)
    if cached is not None and cached["key"] == key:
        return cached
    router = resources.router()
    side_a = _route(router, state, options["config"])
    st.session_state[STATE] = state = sessions.remember_length(state,
                                                               side_a.ranker["total_ms"])
    side_b, label_b = None, None
    if options["compare"] is not None:
        kind, value = options["compare"]
        if kind == "config":
            side_b, label_b = _route(router, state, value), f"ranker: {value}"
        else:
            side_b = _route(resources.router(intent_version=value), state, options["config"])
            label_b = f"intent model v{value}"
    impressions = [preview.log_impression(engine=resources.engine(), actor=user, result=r,
                                          state=state, session_id=_session_id(),
                                          interactive=side_b is None)
                   for r in (side_a, side_b) if r is not None]
    if st.session_state.pop("preview_new_prompt", False):
        _collect(side_a, user)
    results = {"key": (st.session_state[STATE], options["config"], options["compare"]),
               "a": side_a, "b": side_b, "label_b": label_b, "impressions": impressions,
               "cache": router.cache_stats()}
    st.session_state[RESULTS] = results
    return results


# --- output ------------------------------------------------------------------------------------

def _decision(result: RouteResult) -> None:
    d = result.decision
    show_prompt(d.prompt, size=1.25, marked=marked_slots(d.prompt, d.slots))
    if d.message:
        (st.warning if d.fallback in ("blocked", "error") else st.info)(
            d.message, icon=":material/info:")
    cols = st.columns(3)
    cols[0].metric("Intent", d.intent or "—")
    if d.confidence is not None:
        cols[0].caption(f"{d.confidence:.0%} confident (calibrated)")
    verdict = d.safety["verdict"]
    cols[1].metric("Safety", verdict)
    if d.safety.get("category"):
        cols[1].caption(f"category: {d.safety['category']}")
    cols[2].metric("Time", f"{d.timings_ms.get('total', 0):.0f} ms")
    if d.cached:
        cols[2].caption("answered from the cache")
    _notes(result)
    _why(result)


def _notes(result: RouteResult) -> None:
    d = result.decision
    if d.abstain:
        st.caption(f":material/help: Abstained: {ABSTAIN_TEXT.get(d.abstain, d.abstain)}")
    if d.fallback:
        st.caption(f":material/alt_route: Fallback: {d.fallback}")
    if d.alternatives:
        st.caption("Next: " + ", ".join(f"{a['intent']} {a['p']:.0%}" for a in d.alternatives))
    extra = [s for s in d.slots if s["start"] < 0]
    if extra:
        st.caption("Refined: " + ", ".join(as_markdown(f"{s['slot']}={s['value']}")
                                           for s in extra))
    if d.safety.get("reasons"):
        st.caption(f"{VERDICT_ICONS.get(d.safety['verdict'], '')} "
                   + "; ".join(as_markdown(r) for r in d.safety["reasons"][:3]))


def _why(result: RouteResult) -> None:
    d = result.decision
    with st.expander("Why: nearest labeled examples, stage timings, versions"):
        if d.nearest:
            st.dataframe(pd.DataFrame(d.nearest)[["text", "label", "similarity"]],
                         hide_index=True, width="stretch")
        chart = timings_chart(d.timings_ms)
        if chart is not None:
            st.altair_chart(chart, width="stretch")
        st.caption("Versions: " + ", ".join(_versions(d.versions)))


def _versions(versions: dict[str, Any]) -> list[str]:
    out = []
    for name, value in versions.items():
        if isinstance(value, dict):
            out += [f"{name} {k} {v}" for k, v in value.items() if v not in (None, {}, [])]
        elif value is not None:
            out.append(f"{name} {value}")
    return out


def _playlist(result: RouteResult, side: str, impression_id: int | None, *,
              interactive: bool, user: auth.SignedIn) -> None:
    tracks = result.tracks
    if not tracks:
        st.caption("No playlist for this prompt.")
        return
    minutes = result.ranker["total_ms"] / 60_000
    relaxed = result.ranker.get("relaxed") or []
    st.caption(f"{len(tracks)} tracks · {minutes:.0f} min · ranker {result.ranker['name']} "
               f"v{result.ranker['version']}"
               + (f" · relaxed: {', '.join(relaxed)}" if relaxed else ""))
    for track in tracks:
        row = st.container(horizontal=True, vertical_alignment="center", gap="small",
                           key=f"track_{side}_{track['position']}")
        explicit = " :red-badge[E]" if track["explicit"] else ""
        row.markdown(f"**{track['position']}. {as_markdown(track['artist'])} — "
                     f"{as_markdown(track['title'])}** ({track['year']}, "
                     f"{as_markdown(track['genre'])}){explicit}  \n"
                     f":small[:gray[{as_markdown(track['reason'])}]]", width="stretch")
        if interactive:
            for action, icon in (("like", ":material/thumb_up:"), ("skip", ":material/skip_next:"),
                                 ("save", ":material/bookmark_add:")):
                if row.button("", key=f"{action}_{side}_{track['position']}", icon=icon,
                              help=action):
                    _signal(action, track, impression_id, user)
    chart = feature_bars(tracks)
    if chart is not None:
        with st.expander("Audio features"):
            st.altair_chart(chart)


def _signal(action: str, track: dict[str, Any], impression_id: int | None,
            user: auth.SignedIn) -> None:
    state: sessions.SessionState = st.session_state[STATE]
    try:
        if impression_id is not None:
            preview.record_feedback(engine=resources.engine(), actor=user,
                                    impression_id=impression_id,
                                    track_id=str(track["track_id"]), action=action)
        st.session_state[STATE] = sessions.signal(state, action, track)
    except (*SERVICE_ERRORS, sessions.RefinementError) as exc:
        st.error(f"Not saved: {describe(exc)}.")
        return
    st.session_state[NOTICE] = (f"{action.capitalize()}d {as_markdown(track['artist'])} — "
                                f"{as_markdown(track['title'])}.")
    st.rerun()


def _refinements(result: RouteResult) -> None:
    state: sessions.SessionState = st.session_state[STATE]
    row = st.container(horizontal=True, gap="small", key="preview_chips")
    chosen = None
    slots = result.decision.slot_values()
    for chip in CHIPS:
        asked = chip not in state.applied and sessions.in_effect(chip, slots)
        if row.button(chip, key=f"chip_{chip}",
                      type="primary" if chip in state.applied or asked else "secondary",
                      help="Already asked for in the prompt" if asked else None):
            chosen = chip
    if result.tracks:
        number = row.number_input("Track", min_value=1, max_value=len(result.tracks), step=1,
                                  key="preview_like_track", label_visibility="collapsed",
                                  width=90)
        if row.button("More like this track", key="chip_more_like"):
            chosen = f"more like track {number}"
    if row.button("Reset", key="preview_reset", icon=":material/restart_alt:"):
        st.session_state[STATE] = sessions.reset(state)
        st.rerun()
    if state.applied:
        st.caption("Applied: " + ", ".join(as_markdown(a) for a in state.applied))
    if chosen is None:
        return
    try:
        st.session_state[STATE] = sessions.refine(state, chosen, result.tracks)
    except sessions.RefinementError as exc:
        st.error(str(exc))
        return
    st.rerun()


def _report(result: RouteResult, user: auth.SignedIn) -> None:
    with st.popover("Report", icon=":material/flag:"):
        note = st.text_area("What is wrong with this output?", key="preview_report_note",
                            max_chars=1000)
        if st.button("Send to safety triage", key="preview_report", type="primary"):
            try:
                flag_id = preview.report_output(engine=resources.engine(), actor=user,
                                                router=resources.router(), result=result,
                                                note=note)
            except SERVICE_ERRORS as exc:
                st.error(f"Not sent: {describe(exc)}.")
                return
            st.session_state[NOTICE] = f"Reported as flag #{flag_id}; it is in the triage queue."
            st.rerun()


def render() -> None:
    user = auth.require(Capability.preview)
    st.title("Preview")
    st.caption("What the served models make of a prompt, and the playlist the ranker builds.")
    _prompt_form()
    try:
        intent_task = default_intent_task(engine=resources.engine(), actor=user)
        options = _controls(intent_task, user)
        state: sessions.SessionState | None = st.session_state.get(STATE)
        if state is None:
            st.info("Type a prompt and press Route.", icon=":material/keyboard:")
            return
        results = _results(st.session_state[STATE], options, user)
    except SERVICE_ERRORS as exc:
        st.error(f"Cannot route: {describe(exc)}.")
        return
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        st.success(notice, icon=":material/check_circle:")
    not_collected = st.session_state.pop(NOT_COLLECTED, None)
    if not_collected:
        st.warning(not_collected, icon=":material/warning:")
    side_a, side_b = results["a"], results["b"]
    cache = results["cache"]
    st.caption(f"Cache: {cache['hits']} hits, {cache['misses']} misses"
               + (f" ({cache['hit_rate']:.0%} hit rate)" if cache["hit_rate"] is not None
                  else ""))
    _decision(side_a)
    _refinements(side_a)
    _report(side_a, user)
    if side_b is None:
        _playlist(side_a, "a", results["impressions"][0] if results["impressions"] else None,
                  interactive=True, user=user)
        return
    st.caption("Like, skip and save are in the single view (Compare with: nothing).")
    left, right = st.columns(2)
    with left:
        st.subheader("A: serving")
        _playlist(side_a, "a", results["impressions"][0] if results["impressions"] else None,
                  interactive=False, user=user)
    with right:
        st.subheader(f"B: {results['label_b']}")
        if side_b.decision.intent != side_a.decision.intent:
            st.caption(f"Intent here: {side_b.decision.intent} "
                       f"({side_b.decision.confidence or 0:.0%})")
        _playlist(side_b, "b", None, interactive=False, user=user)
        overlap = len({t["track_id"] for t in side_a.tracks}
                      & {t["track_id"] for t in side_b.tracks})
        st.caption(f"{overlap} of {len(side_a.tracks)} tracks in both lists.")


render()
