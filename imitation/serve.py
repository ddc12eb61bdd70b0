"""`python -m imitation.serve` runs both imitations on their own, seeded like the demo, and prints their
accounts and how to point yourMoment at them."""

from __future__ import annotations

import argparse
import time
from typing import Any

from imitation import llm_server, mymoment
from yourmoment.serving import serve_in_thread


def _banner(mymoment_url: str, llm_url: str, accounts: list[Any], models: tuple[str, ...]) -> str:
    """What a user needs to try the imitations: addresses, accounts and the commands that use them."""
    rows = [
        f"  {a.username:<14} password {a.password:<10} {a.role:<8} classes {', '.join(map(str, a.class_ids))}"
        f"   (student id {a.uid})"
        for a in accounts
    ]
    pupil = next(a for a in accounts if a.role == "pupil")
    return "\n".join(
        [
            f"myMoment imitation  {mymoment_url}/   accounts:",
            *rows,
            f"LLM imitation       {llm_url}/v1   any API key; models {', '.join(models)}",
            "Point yourMoment at them (in .env or the environment), then for example:",
            f"  MYMOMENT_BASE_URL={mymoment_url}",
            f"  python starter.py login add pupil --username {pupil.username}    # password {pupil.password}",
            f"  python starter.py provider add fake --provider openai-compatible --model {models[0]} --base-url {llm_url}/v1",
            "  python starter.py browse tabs --login pupil",
            "Ctrl-C ends both.",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m imitation.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--mymoment-port", type=int, default=8001)
    parser.add_argument("--llm-port", type=int, default=8002)
    args = parser.parse_args(argv)
    state = mymoment.MyMomentState()
    mymoment.seed_demo(state)
    with (
        serve_in_thread(mymoment.create_app(state), args.host, args.mymoment_port) as mm,
        serve_in_thread(llm_server.create_app(llm_server.LLMState()), args.host, args.llm_port) as llm,
    ):
        print(_banner(mm.url, llm.url, state.account_list(), llm_server.DEFAULT_MODELS), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", flush=True)


if __name__ == "__main__":
    main()
