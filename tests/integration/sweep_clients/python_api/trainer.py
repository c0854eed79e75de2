"""The sweep's training function: a small torch classifier on random 28x28 images, sized by
``wandb.config.layers``, logging what a Keras callback would per epoch."""


def train() -> None:
    import numpy as np
    import torch
    import wandb

    wandb.init(config={"layers": 128})
    width = wandb.config.layers
    gen = np.random.default_rng(1)
    images = torch.from_numpy(gen.random((80, 28, 28), dtype=np.float32))
    labels = torch.from_numpy(gen.integers(0, 10, 80))
    fit_x, fit_y, val_x, val_y = images[:64], labels[:64], images[64:], labels[64:]
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, width), torch.nn.ReLU(), torch.nn.Linear(width, 10)
    )
    opt = torch.optim.Adam(net.parameters())
    criterion = torch.nn.CrossEntropyLoss()
    for epoch in range(5):
        opt.zero_grad()
        logits = net(fit_x)
        loss = criterion(logits, fit_y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            val_logits = net(val_x)
        wandb.log(
            {
                "epoch": epoch,
                "loss": float(loss),
                "accuracy": float((logits.argmax(1) == fit_y).float().mean()),
                "val_loss": float(criterion(val_logits, val_y)),
                "val_accuracy": float((val_logits.argmax(1) == val_y).float().mean()),
            }
        )
