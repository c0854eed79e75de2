"""In the style of W&B's artifact and save examples: a producer run saves a file and logs a
dataset artifact; a consumer run uses it by alias and downloads it."""

import os

import wandb

os.makedirs("data", exist_ok=True)
with open("data/train.csv", "w") as f:
    f.write("x,y\n1,2\n3,4\n")
with open("notes.txt", "w") as f:
    f.write("first run\n")

with wandb.init(project="examples", job_type="upload") as producer:
    wandb.save("notes.txt")
    dataset = wandb.Artifact("toy-data", type="dataset", metadata={"rows": 2})
    dataset.add_file("data/train.csv")
    producer.log_artifact(dataset, aliases=["best"])
    wandb.log({"rows": 2})

with wandb.init(project="examples", job_type="train") as consumer:
    art = consumer.use_artifact("toy-data:best")
    path = art.download()
    with open(os.path.join(path, "train.csv")) as f:
        lines = f.read().splitlines()
    wandb.log({"lines": len(lines)})
    print("RUN", producer.id, consumer.id, art.version, art.type, len(lines))
