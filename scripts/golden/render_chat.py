#!/usr/bin/env python3
"""Developer tool: renders chat-format goldens with jinja2 from the published templates.

    /tmp/v/bin/python scripts/golden/render_chat.py /work/shared/templates tests/data/chat

Writes OUT/nemotron3.jsonl (from NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja) and OUT/nano-v2.jsonl
(from NVIDIA-Nemotron-Nano-v2.jinja). Each line: {"messages": [...], "thinking": -1|0|1,
"truncate": 0|1, "gen": 0|1, "text": rendered}. "thinking" is what the C side receives as
enable_thinking: -1 = default. The templates are not committed, only their renders.

How the C options map onto the templates:
- Nemotron-3: thinking 0/1 is the template's enable_thinking. For -1 the C default follows spec
  §5 ("/think" or "/no_think" in a system/user message overrides, last one wins, default on); the
  template has no such rule, so this tool computes enable_thinking that way and passes it.
- Nano-v2: the template decides from the /think and /no_think markers only. C's forced 0/1 is
  rendered by appending " /no_think" or " /think" to the last system/user message (the template
  strips the marker and surrounding whitespace), on conversations without markers.
"""
import json
import os
import sys

import jinja2

NEMO3 = "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja"
NANO2 = "NVIDIA-Nemotron-Nano-v2.jinja"


def S(c):
    return {"role": "system", "content": c}


def U(c):
    return {"role": "user", "content": c}


def A(c, rc=None):
    m = {"role": "assistant", "content": c}
    if rc is not None:
        m["reasoning_content"] = rc
    return m


def T(c):
    return {"role": "tool", "content": c}


CONVS = [
    [S("You are helpful."), U("Hi"), A("Hello!"), U("What is 2+2?")],
    [U("Hi")],
    [S("You are a video planner."), U("Plan a 30 second clip about tea.")],
    [U("Hello"), A("Hi there."), U("Tell me a joke.")],
    [S(""), U("empty system")],
    [S("  padded system  \n"), U("  padded user \t"), A("  padded answer  "), U("next")],
    [S("Sys /think"), U("Question one")],
    [S("Sys"), U("Question /no_think")],
    [U("first /no_think"), A("ok"), U("second /think")],
    [U("first /think"), A("ok"), U("second /no_think please")],
    [U("Q"), A("<think>\nreasoning here\n</think>\nThe answer is 4."), U("And 3+3?")],
    [U("Q"), A("<think>\nreasoning here\n</think>\nThe answer is 4.")],
    [U("Q"), A("Final.", rc="Let me think step by step."), U("again")],
    [U("Q"), A("Final.", rc="Let me think.")],
    [U("Q"), A("", rc="   "), U("blank reasoning")],
    [U("Q"), A("a</think>b</think>c"), U("two closing tags")],
    [U("Q"), A("<think>never closed"), U("broken think")],
    [U("multi\nline\n\nquestion"), A("multi\nline\nanswer\n"), U("ok\n")],
    [S("Use tools."), U("weather?"), T("{\"temp\": 21}"), T("{\"rain\": false}"), U("thanks")],
    [U("call"), A("calling"), T("result one")],
    [U("日本語で答えて"), A("はい、わかりました。"), U("Ελληνικά; عربى? 👨‍👩‍👧")],
    [S("sys"), U("a"), A("b"), U("c"), A("d"), U("e"), A("f"), U("g")],
    [U("a"), A("b"), S("mid-conversation system note"), U("c")],
    [U("trailing unicode space\u3000"), A("\u00a0nbsp answer\u00a0"), U("x")],
    [S("System only then user"), U("<|im_start|> literal tokens </think> in text")],
    [U("Continue this:"), A("Once upon a time")],
    [U(""), A(""), U("empty turns")],
]


def has_marker(conv):
    return any(m["role"] in ("user", "system") and ("/think" in m["content"] or "/no_think" in m["content"])
               for m in conv)


def marker_thinking(conv):
    on = True
    for m in conv:
        if m["role"] in ("user", "system"):
            if "/think" in m["content"]:
                on = True
            elif "/no_think" in m["content"]:
                on = False
    return on


def main():
    tdir = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/templates"
    out = sys.argv[2] if len(sys.argv) > 2 else "tests/data/chat"
    os.makedirs(out, exist_ok=True)
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda v, **k: json.dumps(v, ensure_ascii=False)
    n3 = env.from_string(open(os.path.join(tdir, NEMO3), encoding="utf-8").read())
    n2 = env.from_string(open(os.path.join(tdir, NANO2), encoding="utf-8").read())
    recs3, recs2 = [], []
    for conv in CONVS:
        for gen in (1, 0):
            for thinking in (-1, 0, 1):
                for trunc in (1, 0):
                    et = marker_thinking(conv) if thinking < 0 else bool(thinking)
                    text = n3.render(messages=conv, add_generation_prompt=bool(gen),
                                     enable_thinking=et, truncate_history_thinking=bool(trunc))
                    recs3.append({"messages": conv, "thinking": thinking, "truncate": trunc,
                                  "gen": gen, "text": text})
                if thinking >= 0 and has_marker(conv):
                    continue
                if conv[-1]["role"] == "system" and len(conv) == 1:
                    continue
                c2 = [dict(m) for m in conv]
                if thinking >= 0:
                    idx = [i for i, m in enumerate(c2) if m["role"] in ("user", "system")]
                    if not idx:
                        continue
                    c2[idx[-1]]["content"] += " /think" if thinking else " /no_think"
                text = n2.render(messages=c2, add_generation_prompt=bool(gen))
                recs2.append({"messages": conv, "thinking": thinking, "truncate": 1, "gen": gen,
                              "text": text})
    for name, recs in (("nemotron3.jsonl", recs3), ("nano-v2.jsonl", recs2)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            for r in recs:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"{name}: {len(recs)} renders of {len(CONVS)} conversations")


if __name__ == "__main__":
    main()
