"""A sweep started from Python: a grid over the hidden layer's width."""

import wandb
from trainer import train

if __name__ == "__main__":
    config = {"method": "grid", "parameters": {"layers": {"values": [32, 64, 96, 128, 256]}}}
    sweep_id = wandb.sweep(config)
    wandb.agent(sweep_id, function=train)
