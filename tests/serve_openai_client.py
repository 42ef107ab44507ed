#!/usr/bin/env python3
"""reel serve driven by the official `openai` Python package, as a user's program would.

Run by ctest (test_cli_serve_openai). The package is a developer tool from PyPI that CI never
installs: without it this script prints why and exits 77, which ctest reports as skipped.
Environment: REEL_BIN (the reel binary), REEL_SOURCE_DIR (the source tree), REEL_SKIP_LOG.
"""
import json
import os
import signal
import subprocess
import sys


def skip(why):
    print(f"skipped: {why}")
    log = os.environ.get("REEL_SKIP_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"test_cli_serve_openai: {why}\n")
    sys.exit(77)


try:
    import openai
except ImportError:
    skip("the openai Python package is not installed (pip install openai to run this test)")


def main():
    reel = os.environ.get("REEL_BIN", "reel")
    model = os.path.join(os.environ.get("REEL_SOURCE_DIR", "."), "tests/data/models/tiny-a")
    key = "test-key"
    server = subprocess.Popen([reel, "serve", "-m", model, "--port", "0", "--parallel", "2",
                               "--api-key", key], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        marker = "listening on http://127.0.0.1:"
        assert marker in line, f"reel serve did not start: {line!r}"
        port = int(line.split(marker)[1].split()[0])
        run(port, key)
    finally:
        server.send_signal(signal.SIGTERM)
        rc = server.wait(timeout=120)
    assert rc == 0, f"reel serve exited with {rc}"
    print("openai client: all checks passed")


def run(port, key):
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
    assert [m.id for m in client.models.list().data] == ["tiny-a"]

    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]
    whole = client.chat.completions.create(model="tiny-a", messages=msgs, max_tokens=16,
                                           temperature=0)
    choice = whole.choices[0]
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")
    assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens

    text, usage, finish = "", None, None
    for chunk in client.chat.completions.create(model="tiny-a", messages=msgs, max_tokens=16,
                                                temperature=0, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert text == choice.message.content, (text, choice.message.content)
    assert finish == choice.finish_reason
    assert usage.completion_tokens == whole.usage.completion_tokens

    comp = client.completions.create(model="tiny-a", prompt="Once upon a time", max_tokens=8,
                                     temperature=0.7, seed=3)
    again = client.completions.create(model="tiny-a", prompt="Once upon a time", max_tokens=8,
                                      temperature=0.7, seed=3)
    assert comp.choices[0].text == again.choices[0].text

    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                               "age": {"type": "integer", "minimum": 0,
                                                       "maximum": 30}},
              "required": ["name", "age"], "additionalProperties": False}
    cat = client.chat.completions.create(
        model="tiny-a", messages=[{"role": "user", "content": "A cat's name and age"}],
        max_tokens=64, temperature=0,
        response_format={"type": "json_schema",
                         "json_schema": {"name": "cat", "schema": schema, "strict": True}})
    if cat.choices[0].finish_reason == "stop":
        doc = json.loads(cat.choices[0].message.content)
        assert set(doc) == {"name", "age"} and 0 <= doc["age"] <= 30, doc

    try:
        client.chat.completions.create(model="tiny-a", messages=msgs, n=2)
        raise AssertionError("n=2 was accepted")
    except openai.BadRequestError as e:
        assert "'n'" in str(e)
    bad = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0)
    try:
        bad.models.list()
        raise AssertionError("a wrong key was accepted")
    except openai.AuthenticationError:
        pass


if __name__ == "__main__":
    main()
