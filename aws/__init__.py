"""AWS tooling: ``aws_helper.py`` builds the training image and manages instances (boto3, SSH)."""
