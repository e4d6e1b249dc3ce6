"""Builds switchyard's world in a moto server through the real AWS APIs and prints it as JSON.

usage: moto_world.py ENDPOINT PREFIX RUNNERS [CAPACITY [rules]]
       moto_world.py ENDPOINT delete-launch-template ID

Per runner: two target groups (blue, green) behind one listener of a shared ALB that forwards to
blue; two ASGs with HealthCheckType=ELB attached to their target groups (blue at CAPACITY, green
at 0), both launching one shared launch template (versions 1 and 2 exist); and the status record
naming blue active and deployed.

With `rules`, the runners share one listener instead: its default action forwards to a target
group of no runner (`defaultTargetGroupArn`), and each runner has a host-header rule
(`<name>.example.com`) forwarding to its blue; runners then carry `listenerRuleArn`, and the
world the shared `listenerArn`.
"""

import json
import sys

import boto3

REGION = "us-east-1"


def client(service, endpoint):
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def main():
    if sys.argv[2] == "delete-launch-template":
        client("ec2", sys.argv[1]).delete_launch_template(LaunchTemplateId=sys.argv[3])
        return
    endpoint, prefix, runners = sys.argv[1], sys.argv[2], int(sys.argv[3])
    capacity = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    on_rules = len(sys.argv) > 5 and sys.argv[5] == "rules"
    ec2 = client("ec2", endpoint)
    elb = client("elbv2", endpoint)
    asg = client("autoscaling", endpoint)
    ssm = client("ssm", endpoint)

    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]["SubnetId"]
        for cidr, az in (("10.0.1.0/24", "us-east-1a"), ("10.0.2.0/24", "us-east-1b"))
    ]
    image = ec2.describe_images()["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{prefix}-lt",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"},
    )["LaunchTemplate"]
    template_id = template["LaunchTemplateId"]
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id,
        SourceVersion="1",
        LaunchTemplateData={"ImageId": image, "InstanceType": "t3.small"},
    )
    lb = elb.create_load_balancer(Name=f"{prefix}-alb", Subnets=subnets, Type="application")
    lb_arn = lb["LoadBalancers"][0]["LoadBalancerArn"]

    world = {"vpc": vpc, "subnets": subnets, "launchTemplateId": template_id, "runners": []}
    if on_rules:
        default_tg = elb.create_target_group(
            Name=f"{prefix}-default"[-32:], Protocol="HTTP", Port=80, VpcId=vpc
        )["TargetGroups"][0]["TargetGroupArn"]
        shared = elb.create_listener(
            LoadBalancerArn=lb_arn,
            Protocol="HTTP",
            Port=8000,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": default_tg}],
        )["Listeners"][0]["ListenerArn"]
        world["listenerArn"] = shared
        world["defaultTargetGroupArn"] = default_tg
    for i in range(runners):
        name = f"{prefix}-r{i}"
        shards = {}
        for shard in ("blue", "green"):
            tg = elb.create_target_group(
                Name=f"{name}-{shard}"[-32:],
                Protocol="HTTP",
                Port=80,
                VpcId=vpc,
                TargetType="instance",
                HealthCheckIntervalSeconds=10,
                UnhealthyThresholdCount=3,
            )["TargetGroups"][0]["TargetGroupArn"]
            size = capacity if shard == "blue" else 0
            asg.create_auto_scaling_group(
                AutoScalingGroupName=f"{name}-{shard}",
                LaunchTemplate={"LaunchTemplateId": template_id, "Version": "1"},
                MinSize=size,
                MaxSize=size,
                DesiredCapacity=size,
                VPCZoneIdentifier=",".join(subnets),
                HealthCheckType="ELB",
                HealthCheckGracePeriod=0,
                TargetGroupARNs=[tg],
                Tags=[
                    {
                        "ResourceId": f"{name}-{shard}",
                        "ResourceType": "auto-scaling-group",
                        "Key": "team",
                        "Value": "runners",
                        "PropagateAtLaunch": True,
                    }
                ],
            )
            shards[shard] = {"autoScalingGroup": f"{name}-{shard}", "targetGroupArn": tg}
        forward = [{"Type": "forward", "TargetGroupArn": shards["blue"]["targetGroupArn"]}]
        if on_rules:
            route = {
                "listenerRuleArn": elb.create_rule(
                    ListenerArn=world["listenerArn"],
                    Priority=10 + i,
                    Conditions=[
                        {
                            "Field": "host-header",
                            "HostHeaderConfig": {"Values": [f"{name}.example.com"]},
                        }
                    ],
                    Actions=forward,
                )["Rules"][0]["RuleArn"]
            }
        else:
            route = {
                "listenerArn": elb.create_listener(
                    LoadBalancerArn=lb_arn,
                    Protocol="HTTP",
                    Port=8000 + i,
                    DefaultActions=forward,
                )["Listeners"][0]["ListenerArn"]
            }
        parameter = f"/switchyard/runner/{name}/deployment_status"
        ssm.put_parameter(
            Name=parameter,
            Type="String",
            Value=json.dumps(
                {
                    "active_shard": "blue",
                    "deployment_ts": "2026-03-10T19:19:53Z",
                    "deployed_shards": ["blue"],
                },
                separators=(",", ":"),
            ),
        )
        world["runners"].append(
            {"name": name, **route, "statusParameter": parameter, "shards": shards}
        )
    json.dump(world, sys.stdout)


if __name__ == "__main__":
    main()
