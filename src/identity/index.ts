export * from './decision';
export * from './sshsig';
export * from './ssh-key';
export * from './statement';
