"""In the style of W&B's PyTorch example: wandb.watch, images, a histogram and a table."""

import numpy as np
import torch
import wandb

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
run = wandb.init(project="examples", config={"lr": 0.1, "arch": "mlp"})
wandb.watch(model, log="all", log_freq=2)
for _ in range(6):
    x = torch.randn(16, 4)
    loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, 2, (16,)))
    opt.zero_grad()
    loss.backward()
    opt.step()
    wandb.log({"loss": loss})  # a 0-dim tensor, as in W&B's examples
table = wandb.Table(columns=["id", "score"])
table.add_data(1, 0.5)
table.add_data(2, 0.7)
pixels = (np.arange(8 * 8 * 3) % 255).astype(np.uint8).reshape(8, 8, 3)
wandb.log(
    {
        "samples": [wandb.Image(pixels, caption="first")],
        "scores": table,
        "weights": wandb.Histogram(np.linspace(0, 1, 100)),
    }
)
print("RUN", run.id)
run.finish()
