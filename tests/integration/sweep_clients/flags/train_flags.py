"""A sweep program: the agent passes --optimizer=adam --flag1=True --flag2=False."""

import argparse

import wandb


def as_bool(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes")


cli = argparse.ArgumentParser()
cli.add_argument("--optimizer", type=str, default=None)
cli.add_argument("--flag1", type=as_bool, default=False)
cli.add_argument("--flag2", type=as_bool, default=True)
args = cli.parse_args()

run = wandb.init(config=args)
run.log({"metric": 1.0})
