# Stand-in for W&B's examples/wandb-sweeps/sweeps-python/train_lib.py (see ../SOURCE.md): the
# original trains a Keras model on Fashion-MNIST, which TensorFlow downloads. This one keeps its
# W&B calls as they are (init with config defaults and magic=True, wandb.config.layers sizing
# the hidden layer) and fits the same two-layer classifier with torch on a tiny synthetic
# 28x28 dataset made here, logging what Keras' magic would have logged per epoch.

def train():
    import numpy as np
    import torch
    import wandb
    config_defaults = {
        'layers': 128
    }
    wandb.init(config=config_defaults, magic=True)

    rng = np.random.default_rng(0)
    train_images = rng.random((64, 28, 28), dtype=np.float32)
    train_labels = rng.integers(0, 10, 64)
    test_images = rng.random((16, 28, 28), dtype=np.float32)
    test_labels = rng.integers(0, 10, 16)
    class_names = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                   'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(28 * 28, wandb.config.layers),
        torch.nn.ReLU(),
        torch.nn.Linear(wandb.config.layers, len(class_names)),
    )
    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(train_images), torch.from_numpy(train_labels)
    vx, vy = torch.from_numpy(test_images), torch.from_numpy(test_labels)
    for epoch in range(5):
        optimizer.zero_grad()
        out = model(x)
        loss = loss_fn(out, y)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            val = model(vx)
            wandb.log({
                'epoch': epoch,
                'loss': loss.item(),
                'accuracy': (out.argmax(1) == y).float().mean().item(),
                'val_loss': loss_fn(val, vy).item(),
                'val_accuracy': (val.argmax(1) == vy).float().mean().item(),
            })
