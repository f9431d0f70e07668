#!/usr/bin/env python3
"""The bash completion of a program offers exactly the options of its
--help, so the two cannot drift apart: runs the completion function in
`bash --norc` (as `complete -p` names it) with COMP_WORDS set, the way
readline would, and compares what it offers with `PROGRAM --help`.
Checks: every long option of --help and nothing else after `--`; an option
that takes a value (`--port PORT`, `-p`) is followed by its value, not by
options, and a flag (or `--merge FILE...`, whose files are arguments) by
options; --log-level, --fault and --slo offer the values --help names;
--config, --metrics-file, --histogram-out, --report and echobench's
arguments offer files, also after `--option=`.
Usage: test_completion.py COMPLETION_FILE PATH/TO/PROGRAM"""
import os
import re
import shlex
import subprocess
import sys
import tempfile

# "  -p, --port PORT   text" or "      --udp   text"; the value is one word.
OPTION = re.compile(r"^\s{2,}(?:-(\w), )?--([a-z][a-z0-9-]*)(?: ([A-Z][A-Za-z0-9.:=_-]*))?(?:\s|$)")


def help_options(program):
    """{'--port': True, '-p': True, '--udp': False, ...}: takes a value?"""
    text = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=10, check=True).stdout
    options = {}
    for line in text.splitlines():
        m = OPTION.match(line)
        if not m:
            continue
        short, long, value = m.groups()
        # FILE... is the files that follow, not the option's value.
        takes_value = value is not None and not value.endswith("...")
        options["--" + long] = takes_value
        if short:
            options["-" + short] = takes_value
    if not options:
        sys.exit(f"no option found in `{program} --help`")
    return text, options


def option_text(help_text, option):
    """The help text of one long option, its continuation lines joined."""
    lines = help_text.splitlines()
    for i, line in enumerate(lines):
        m = OPTION.match(line)
        if m and "--" + m.group(2) == option:
            text = [line[m.end():]]
            for more in lines[i + 1:]:
                if OPTION.match(more) or not more.startswith("      "):
                    break
                text.append(more)
            return " ".join(t.strip() for t in text)
    sys.exit(f"{option} not in --help")


def complete(completion, name, queries, cwd):
    """What the completion offers for each query (a list of words, the last
    one being completed), as a list of sets."""
    script = [f"source {shlex.quote(completion)}",
              f"spec=$(complete -p {name}) || exit 3",
              'func=${spec#*-F }; func=${func%% *}']
    for words in queries:
        script += [f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})",
                   f"COMP_CWORD={len(words) - 1}",
                   'COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()',
                   f'"$func" {name} "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}" 2>/dev/null',
                   "printf '%s\\n' \"${COMPREPLY[@]}\"", "echo '<end>'"]
    run = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(script)], capture_output=True,
                         text=True, timeout=30, cwd=cwd)
    if run.returncode != 0:
        sys.exit(f"bash failed ({run.returncode}): {run.stderr}")
    answers = run.stdout.split("<end>\n")[:-1]
    return [{w for w in a.split("\n") if w} for a in answers]


def main():
    completion, program = os.path.abspath(sys.argv[1]), sys.argv[2]
    name = os.path.basename(completion)
    help_text, options = help_options(program)
    long_options = {o for o in options if o.startswith("--")}
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f"{what}: missing {sorted(want - got)}, extra {sorted(got - want)}")

    with tempfile.TemporaryDirectory() as cwd:
        for f in ("a.conf", "run.json", "run.html"):
            open(os.path.join(cwd, f), "w").close()
        queries = [[name, "--"]]
        for option in options:
            queries.append([name, option, "--"])
        answers = complete(completion, name, queries, cwd)
        expect(f"`{name} --<TAB>` against --help", answers[0], long_options)
        for option, offered in zip(options, answers[1:]):
            if options[option]:
                if offered & long_options:
                    failures.append(f"`{name} {option} --<TAB>`: {option} takes a value, but options are offered")
            elif offered != answers[0]:
                failures.append(f"`{name} {option} --<TAB>`: {option} is a flag, but the options are not offered")

        files = {"a.conf", "run.json", "run.html"}
        if name == "echod":
            levels = option_text(help_text, "--log-level").split("(default")[0]
            levels = set(re.split(r",\s*|\s+or\s+", levels.strip()))
            faults = set(re.findall(r"\b([a-z]+)=", option_text(help_text, "--fault")))
            checks = [
                ([name, "--log-level", ""], levels, "--log-level: the levels --help names"),
                ([name, "--log-level", "=", "d"], {"debug"}, "--log-level=d"),
                ([name, "--config", ""], files, "--config: files"),
                ([name, "--config", "=", "a"], {"a.conf"}, "--config=a: files"),
                ([name, "--metrics-file", "r"], {"run.json", "run.html"}, "--metrics-file: files"),
            ]
            answers = complete(completion, name, [c[0] for c in checks] + [[name, "--fault", ""]], cwd)
            for (words, want, what), got in zip(checks, answers):
                expect(what, got, want)
            kinds = {k.rstrip("=") for k in answers[-1]}
            # pause= and jitter= are parameters of slice= and delay=, after a comma.
            expect("--fault: the kinds --help names", kinds | {"pause", "jitter"}, faults)
        if name == "echobench":
            slo = option_text(help_text, "--slo").split("(default")[0]
            slo_percentiles = set(re.findall(r"\bp\d+\b", slo))
            checks = [
                ([name, "--histogram-out", ""], files, "--histogram-out: files"),
                ([name, "--report", "run"], {"run.html"}, "--report: .html files"),
                ([name, "--merge", "r"], {"run.json", "run.html"}, "--merge's files"),
                ([name, "--report", "x.html", "--compare", "run.j"], {"run.json"}, "--compare's files"),
                ([name, "--slo", ""], {p + "=" for p in slo_percentiles}, "--slo: the percentiles --help names"),
            ]
            for (words, want, what), got in zip(checks, complete(completion, name, [c[0] for c in checks], cwd)):
                expect(what, got, want)

    if failures:
        print(f"{completion} and `{program} --help` disagree:", *failures, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print(f"{name}: {len(long_options)} long options and {len(options) - len(long_options)} short ones,"
          " as in --help")


if __name__ == "__main__":
    main()
